fn(s => { leaked = 1; return s; });
