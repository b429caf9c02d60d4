getCases({ remote: true }, {}, state => state);
