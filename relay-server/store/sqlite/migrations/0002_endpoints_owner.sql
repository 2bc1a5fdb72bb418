-- Listing a token's events looks its endpoints up by owner.
CREATE INDEX endpoints_owner ON endpoints (owner);
