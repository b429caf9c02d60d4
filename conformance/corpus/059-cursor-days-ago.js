// profile: lightning
// cursor('3 days ago') → start of that day (§4.3 cursor)
// clock: 2024-03-15T10:30:00.000Z
cursor('3 days ago');
