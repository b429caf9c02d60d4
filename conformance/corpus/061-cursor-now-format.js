// profile: lightning
// cursor('now', {format}) stores format(date) (§4.3 cursor)
// clock: 2024-03-15T10:30:00.000Z
cursor('now', { format: d => dateFns.format(d, 'yyyy-MM-dd HH:mm') });
