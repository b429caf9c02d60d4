// profile: lightning
// dateFns.parse of a formatted string (reference date given) (§4.3 dateFns)
fn(state => ({ ...state, d: dateFns.parse('2024-07-04 08:15', 'yyyy-MM-dd HH:mm', new Date(0)).toISOString(), bad: String(dateFns.parse('nope', 'yyyy', new Date(0))) }));
