post('/api/v1/organizations/clients/upsert', { body: state => state.data });
