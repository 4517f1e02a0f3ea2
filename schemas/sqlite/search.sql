CREATE VIRTUAL TABLE IF NOT EXISTS search_tweets USING fts5(
    terms, body UNINDEXED, ts UNINDEXED,
    tokenize = "unicode61 remove_diacritics 0 tokenchars '_#@'");
