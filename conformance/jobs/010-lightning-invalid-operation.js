console.log('x');
fn(s => s);
