ALTER TABLE `signing_keys` ADD `activated_at` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `signing_keys_one_next` ON `signing_keys` (`alg`) WHERE status = 'next';--> statement-breakpoint
UPDATE `signing_keys` SET `activated_at` = `created_at` WHERE `status` IN ('active', 'retired');
