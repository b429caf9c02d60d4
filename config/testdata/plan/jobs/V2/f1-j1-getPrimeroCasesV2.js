fn(state => state); // f1-j1-getPrimeroCasesV2
