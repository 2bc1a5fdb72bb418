-- A request line with a "?" and nothing after it (capture.Request.ForceQuery).
ALTER TABLE events ADD COLUMN force_query INTEGER NOT NULL DEFAULT 0;
