// profile: lightning
// cursor key is module-level: a later cursor() without key reuses it (§4.3 cursor)
cursor('first', { key: 'since' });
cursor('second');
