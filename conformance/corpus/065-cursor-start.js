// profile: lightning
// cursor('start') → the first call time in the process (frozen clock) (§4.3 cursor)
// clock: 2024-03-15T10:30:00.000Z
cursor('start');
