ALTER TABLE accounts ADD COLUMN display_name text;
UPDATE accounts SET display_name = split_part(email, '@', 1);
