// compat: legacy
fn(s => { provinceUser = s.data.users.find(u => u.p === 'KH'); return s; });
fn(s => ({ ...s, user: provinceUser.name }));
