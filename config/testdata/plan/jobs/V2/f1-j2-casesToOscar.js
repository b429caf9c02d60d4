fn(state => state); // f1-j2-casesToOscar
