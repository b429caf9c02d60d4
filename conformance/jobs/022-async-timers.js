fn(async s => { await new Promise(r => setTimeout(r, 5)); return { ...s, slept: true }; });
