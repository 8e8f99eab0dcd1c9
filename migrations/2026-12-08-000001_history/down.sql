DROP TRIGGER campaign_moved ON campaigns;
DROP TRIGGER campaign_started ON campaigns;
DROP FUNCTION campaign_event();
DROP TABLE campaign_events;
DROP TABLE burn_down;
DROP TABLE fleet_minutes;
