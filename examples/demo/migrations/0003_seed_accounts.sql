INSERT INTO accounts (email)
SELECT 'user' || g || '@example.com' FROM generate_series(1, 1000) AS g;
