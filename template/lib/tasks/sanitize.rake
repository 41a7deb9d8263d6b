# frozen_string_literal: true

# bin/rails db:sanitize: scrub personal data from a staging, review or development database
# in place, following config/sanitize.yml (written by copier-heroku; see lib/heroku_sanitize.rb).
# Refuses to run unless APP_STAGE is staging, review, development or test. bin/heroku-mirror-db
# runs it on staging, on the restored copy, before that copy is promoted.
#
#   bin/rails db:sanitize                         # run it on the app's database
#   DRY_RUN=1 bin/rails db:sanitize               # check rules and data, print the SQL, change nothing
#   ALLOW_UNCOVERED=1 bin/rails db:sanitize       # run although personal-looking columns lack a rule
#   SANITIZE_RULES=path bin/rails db:sanitize     # another rules file
#   SANITIZE_DATABASE_URL=HEROKU_POSTGRESQL_PINK_URL bin/rails db:sanitize
#                                                 # another database: a URL, or the config var holding it
#   SANITIZE_MODE=offline bin/rails db:sanitize   # nobody uses that database: rewrite tables whole, faster
namespace :db do
  desc "Scrub personal data per config/sanitize.yml, in one transaction (never in production)"
  task sanitize: :environment do
    # lib/ is not necessarily autoloaded, and rake tasks run before eager loading anyway.
    require File.expand_path("../heroku_sanitize", __dir__)

    $stdout.sync = true
    app_root = File.expand_path("../..", __dir__)
    status = HerokuSanitize.main(
      [], rules: File.join(app_root, "config", "sanitize.yml"),
          connection: -> { ActiveRecord::Base.connection.raw_connection }
    )
    # main printed the one sentence; the status is the whole answer.
    exit status unless status.zero?
  end
end
