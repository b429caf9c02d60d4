// profile: both
// dateFns.format with an explicit date (no clock) (§4.3 dateFns)
fn(state => ({ ...state, f: dateFns.format(new Date(Date.UTC(2024, 1, 29, 13, 5, 9)), 'yyyy-MM-dd HH:mm:ss'), g: dateFns.format(new Date(Date.UTC(2024, 0, 5)), 'dd/MM/yyyy') }));
