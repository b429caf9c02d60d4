fn(s => ({ ...s, people: s.data.people }));
map('$.data.people[*]', (p, i) => i + ':' + p.name);
fn(s => ({ ...s, labels: s.data }));
group(s => s.people, 'team');
