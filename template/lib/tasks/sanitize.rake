# frozen_string_literal: true

# bin/rails db:sanitize: scrub personal data from a staging, review or development database
# in place, following config/sanitize.yml (written by copier-heroku; see lib/heroku_sanitize.rb).
# Refuses production (APP_STAGE, else RAILS_ENV). bin/heroku-mirror-db runs it on staging
# right after restoring the production backup there.
#
#   bin/rails db:sanitize                      # run it
#   DRY_RUN=1 bin/rails db:sanitize            # check the rules, print the SQL, change nothing
#   ALLOW_UNCOVERED=1 bin/rails db:sanitize    # run although personal-looking columns lack a rule
#   SANITIZE_RULES=path bin/rails db:sanitize  # another rules file
namespace :db do
  desc "Scrub personal data per config/sanitize.yml, in one transaction (never in production)"
  task sanitize: :environment do
    # lib/ is not necessarily autoloaded, and rake tasks run before eager loading anyway.
    require File.expand_path("../heroku_sanitize", __dir__)

    $stdout.sync = true
    begin
      HerokuSanitize.guard
      app_root = File.expand_path("../..", __dir__)
      rules = HerokuSanitize.load_rules(ENV.fetch("SANITIZE_RULES", File.join(app_root, "config", "sanitize.yml")))
      ActiveRecord::Base.connection_pool.with_connection do |connection|
        HerokuSanitize.run(connection.raw_connection, rules,
                           allow_uncovered: ENV["ALLOW_UNCOVERED"] == "1",
                           dry_run: ENV["DRY_RUN"] == "1")
      end
    rescue HerokuSanitize::Error => e
      abort "sanitize: #{e.message}"
    end
  end
end
