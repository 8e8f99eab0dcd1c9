DROP TABLE blob_removals;
