ALTER TABLE `users` ADD `username_skeleton` text;--> statement-breakpoint
-- Backfill (hand-written): the skeleton of src/lib/validation.ts usernameSkeleton in SQL. Where
-- existing accounts already collide, the oldest keeps the skeleton and the others stay NULL
-- (they keep working; nobody new can register a look-alike of any of them).
UPDATE `users` SET `username_skeleton` = replace(replace(replace(replace(replace(replace(lower(`username`), 'i', 'l'), '1', 'l'), '0', 'o'), 'rn', 'm'), 'vv', 'w'), 'cl', 'd')
WHERE NOT EXISTS (
  SELECT 1 FROM `users` AS `older`
  WHERE replace(replace(replace(replace(replace(replace(lower(`older`.`username`), 'i', 'l'), '1', 'l'), '0', 'o'), 'rn', 'm'), 'vv', 'w'), 'cl', 'd')
      = replace(replace(replace(replace(replace(replace(lower(`users`.`username`), 'i', 'l'), '1', 'l'), '0', 'o'), 'rn', 'm'), 'vv', 'w'), 'cl', 'd')
    AND (`older`.`created_at` < `users`.`created_at` OR (`older`.`created_at` = `users`.`created_at` AND `older`.`id` < `users`.`id`))
);--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_skeleton_unique` ON `users` (`username_skeleton`);
