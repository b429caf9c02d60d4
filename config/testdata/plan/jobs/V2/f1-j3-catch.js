fn(state => state); // f1-j3-catch
