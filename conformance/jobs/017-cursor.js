cursor('today', { key: 'since' });
cursor($.lastRun, { defaultValue: '2 days ago', key: 'cursor' });
