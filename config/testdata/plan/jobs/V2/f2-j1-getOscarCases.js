fn(state => state); // f2-j1-getOscarCases
