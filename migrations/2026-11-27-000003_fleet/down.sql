DROP TABLE fleet_workers;
DROP TABLE fleet_settings;
