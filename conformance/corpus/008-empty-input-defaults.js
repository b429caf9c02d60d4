// profile: both
// empty input: lightning assembles data {} and configuration {} (removed); legacy passes {} as is (§2.1)
fn(state => state);
