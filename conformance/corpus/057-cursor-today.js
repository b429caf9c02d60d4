// profile: lightning
// cursor('today') → start of today (UTC, frozen clock) as ISO (§4.3 cursor)
// clock: 2024-03-15T10:30:00.000Z
cursor('today');
