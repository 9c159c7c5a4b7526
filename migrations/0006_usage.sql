CREATE TABLE `usage_counters` (
	`subject_type` text NOT NULL,
	`subject_id` text NOT NULL,
	`route` text NOT NULL,
	`hour` integer NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`status_2xx` integer DEFAULT 0 NOT NULL,
	`status_3xx` integer DEFAULT 0 NOT NULL,
	`status_4xx` integer DEFAULT 0 NOT NULL,
	`status_5xx` integer DEFAULT 0 NOT NULL,
	`bytes_in` integer DEFAULT 0 NOT NULL,
	`bytes_out` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`subject_type`, `subject_id`, `route`, `hour`)
);
--> statement-breakpoint
CREATE INDEX `usage_hour_idx` ON `usage_counters` (`hour`,`subject_type`,`subject_id`,`route`);