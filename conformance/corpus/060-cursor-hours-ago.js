// profile: lightning
// cursor('2 hours ago') → now minus 2h, not rounded (§4.3 cursor)
// clock: 2024-03-15T10:30:00.000Z
cursor('2 hours ago');
