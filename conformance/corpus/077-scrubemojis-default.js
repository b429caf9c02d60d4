// profile: both
// scrubEmojis replaces emoji with U+FFFD by default (§4.3 scrubEmojis)
fn(state => ({ ...state, data: { text: scrubEmojis(state.data.text), empty: scrubEmojis('') } }));
