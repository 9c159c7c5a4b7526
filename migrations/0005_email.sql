CREATE TABLE `email_tokens` (
	`token_hash` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`user_id` text NOT NULL,
	`email` text NOT NULL,
	`email_key` text NOT NULL,
	`password_generation` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `email_tokens_address_idx` ON `email_tokens` (`email_key`,`created_at`);--> statement-breakpoint
CREATE INDEX `email_tokens_user_idx` ON `email_tokens` (`user_id`,`kind`);--> statement-breakpoint
CREATE INDEX `email_tokens_expires_idx` ON `email_tokens` (`expires_at`);--> statement-breakpoint
ALTER TABLE `users` ADD `email_key` text;--> statement-breakpoint
ALTER TABLE `users` ADD `email_verified_at` integer;--> statement-breakpoint
ALTER TABLE `users` ADD `password_generation` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Backfill (hand-written): the normalised key of existing addresses (lib/email.ts normalizeEmail;
-- SQL lower() folds ASCII only, which is what existing validated addresses hold). No address is
-- verified yet, so the partial unique index below cannot conflict.
UPDATE `users` SET `email_key` = lower(trim(`email`)) WHERE `email` IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `users_verified_email_unique` ON `users` (`email_key`) WHERE email_verified_at IS NOT NULL;