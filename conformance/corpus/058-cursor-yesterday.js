// profile: lightning
// cursor('yesterday') → start of yesterday (§4.3 cursor)
// clock: 2024-03-15T10:30:00.000Z
cursor('yesterday');
