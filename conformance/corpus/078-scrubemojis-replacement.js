// profile: both
// scrubEmojis with a custom replacement and with '' (removal) (§4.3 scrubEmojis)
fn(state => ({ ...state, data: { x: scrubEmojis('a👍b', '?'), y: scrubEmojis('a👍b', '') } }));
