// profile: lightning
// group by key path; items without the key (undefined group) are dropped (§4.3 group)
group($.data.items, 'type');
