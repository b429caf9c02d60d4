-- The clinical database make example NAME=postgres-to-dhis2 creates: the
-- same visits the example's test inserts (2024, run "now" = 2024-06-15).
CREATE TABLE health_visits (id serial PRIMARY KEY, patient_id text NOT NULL, facility_code text NOT NULL, visit_date date NOT NULL);
INSERT INTO health_visits (patient_id, facility_code, visit_date)
SELECT 'P' || g || '-' || f.facility_code, f.facility_code, f.visit_date
FROM (VALUES
  ('LC_GROS_ISLET', DATE '2023-12-10', 2), -- before the window: not sent
  ('LC_GROS_ISLET', DATE '2024-04-03', 3),
  ('LC_GROS_ISLET', DATE '2024-05-20', 2),
  ('LC_CASTRIES',   DATE '2024-05-02', 4),
  ('LC_CASTRIES',   DATE '2024-06-01', 1),
  ('LC_VIEUX_FORT', DATE '2024-06-12', 2),
  ('LC_SOUFRIERE',  DATE '2024-05-07', 1)  -- no DHIS2 org unit: reported as a problem
) AS f(facility_code, visit_date, n), generate_series(1, f.n) AS g;
