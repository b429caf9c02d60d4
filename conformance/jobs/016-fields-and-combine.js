fn(s => ({ ...s, record: expandReferences(fields(field('name', dataValue('name')), field('age', s => s.data.age + 1)))(s) }));
combine(fn(s => ({ ...s, x: 1 })), fn(s => ({ ...s, y: s.x + 1 })));
