CREATE TABLE consumer_ok (id int);
