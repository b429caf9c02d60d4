// profile: both
// final state is JSON-cleaned: functions/undefined dropped, Date → ISO, NaN/Infinity → null (§2.4)
fn(state => ({
  ...state,
  data: {
    helper: x => x,
    nothing: undefined,
    when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
    nan: NaN,
    inf: Infinity,
    list: [1, undefined, () => 1],
    nested: { keep: 'yes', drop: undefined },
  },
}));
