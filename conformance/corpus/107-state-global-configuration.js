// profile: both
// top-level state.configuration read at load (legacy hazard §6.5.3); configuration dropped/kept at the end (§2.4)
each([state.configuration.username], fn(s => ({ ...s, user: s.data })));
