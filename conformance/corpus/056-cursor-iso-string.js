// profile: both
// cursor with a non-keyword string stores it as is under state.cursor (§4.3 cursor)
cursor('2024-01-01T00:00:00.000Z');
