// profile: lightning
// cursor value from a lazy reference present in state (§4.3 cursor, §1.4)
cursor($.lastRun, { defaultValue: 'today' });
