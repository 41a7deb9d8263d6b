# frozen_string_literal: true

# Sanitize a PostgreSQL database in place from declarative rules (config/sanitize.yml),
# written by copier-heroku. `bin/rails db:sanitize` runs it through the app's connection;
# `ruby lib/heroku_sanitize.rb --help` runs it on its own with the pg gem.
#
# The rules compile into one UPDATE per table (every column at once) plus one TRUNCATE,
# run in a single transaction and verified before the commit. The Python engine of the
# Django and Flask stacks emits the same SQL text, so the same rules on the same database
# give the same data: change one, change the other.
require "yaml"
require "date"

module HerokuSanitize
  STRATEGIES = %w[email name phone address hash null blank constant keep].freeze
  GENERATED = %w[email name phone address hash].freeze
  # Shapes of generated values: prefix, row key, suffix.
  SHAPES = {
    "email" => ["user", "@example.invalid"],
    "name" => ["User ", ""],
    "phone" => ["555-", ""],
    "address" => ["", " Example Street"]
  }.freeze
  TEXT_TYPES = %w[text varchar bpchar citext].freeze
  ALLOWED_STAGES = %w[staging review development test].freeze
  FRAMEWORK_ENV_VARS = %w[RAILS_ENV RACK_ENV APP_ENV].freeze

  # A column name looks personal when one of its words is in PERSONAL_WORDS or it contains
  # one of PERSONAL_PARTS (so "encrypted_password" and "lastName" count, "zipper" does not).
  PERSONAL_WORDS = %w[
    name ip ssn dob zip zipcode postcode street city mobile fax iban passport
  ].freeze
  PERSONAL_PARTS = %w[
    email phone passw token secret address birth surname firstname lastname fullname
    username nickname
  ].freeze

  CATALOG_SQL = <<~SQL.chomp
    SELECT n.nspname, c.relname, a.attname, a.attnotnull,
           coalesce(bt.typname, t.typname) AS base_type,
           CASE WHEN coalesce(bt.typname, t.typname) IN ('varchar', 'bpchar')
                 AND (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) > 4
                THEN (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) - 4
           END AS max_length,
           EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = c.oid AND i.indisunique AND a.attnum = ANY (i.indkey))
             AS is_unique,
           coalesce((SELECT k.ord FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k (attnum, ord)
                     WHERE i.indrelid = c.oid AND i.indisprimary AND k.attnum = a.attnum), 0)
         AS pk_position
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY n.nspname, c.relname, a.attnum
  SQL

  # Anything that stops the run; the message is meant for the user as it is.
  class Error < StandardError; end

  ColumnRule = Struct.new(:column, :strategy, :value)
  TableRule = Struct.new(:key, :where, :columns)
  Rules = Struct.new(:path, :salt, :tables, :truncate)
  Column = Struct.new(:name, :not_null, :base_type, :max_length, :unique, :pk_position)
  # One table's work (or the truncation): count, change, verify.
  Step = Struct.new(:label, :kind, :count_sql, :change_sql, :verify_sql, :checks)

  class Table
    attr_reader :schema, :name, :columns

    def initialize(schema, name)
      @schema = schema
      @name = name
      @columns = {}
    end

    def qualified
      "#{HerokuSanitize.quote_ident(schema)}.#{HerokuSanitize.quote_ident(name)}"
    end

    def label
      "#{schema}.#{name}"
    end

    def primary_key
      columns.values.select { |c| c.pk_position.positive? }.sort_by(&:pk_position).map(&:name)
    end
  end

  Plan = Struct.new(:steps, :uncovered) do
    def sql
      steps.flat_map { |s| [s.count_sql, s.change_sql, s.verify_sql] }.map { |q| "#{q};\n" }.join
    end
  end

  module_function

  # Refuse production. Returns the stage it allows, in words; raises otherwise.
  # APP_STAGE decides; when it is unset or unknown, a production framework environment
  # refuses too (staging runs RAILS_ENV=production with APP_STAGE=staging).
  def guard(env = ENV, framework_vars = FRAMEWORK_ENV_VARS)
    stage = env.fetch("APP_STAGE", "").to_s.strip
    if stage == "production"
      raise Error, "refusing to run: APP_STAGE is production. Sanitize runs on " \
                   "staging, review, development or test databases only."
    end
    return "APP_STAGE=#{stage}" if ALLOWED_STAGES.include?(stage)

    framework_vars.each do |var|
      next unless env.fetch(var, "").to_s.strip == "production"

      what = stage.empty? ? "APP_STAGE is unset" : "APP_STAGE is '#{stage}', not a known stage"
      raise Error, "refusing to run: #{what} and #{var} is production. Set APP_STAGE to one of " \
                   "#{ALLOWED_STAGES.join(', ')} on a database that is not production."
    end
    stage.empty? ? "APP_STAGE unset, not a production environment" : "APP_STAGE=#{stage}"
  end

  # A YAML scalar as SQL literal text, the same way Python writes it.
  def scalar_text(value)
    case value
    when Date, Time then value.iso8601
    else value.to_s
    end
  end

  # Check the rules file's shape; every error names the file and the rule.
  def parse_rules(data, path, env = ENV)
    fail_at = ->(where, message) { Error.new("#{path}: #{where}: #{message}") }
    data = {} if data.nil?
    raise fail_at.call("top level", "expected a mapping with tables:, truncate: and salt:") unless data.is_a?(Hash)

    unknown = data.keys.map(&:to_s) - %w[tables truncate salt]
    raise fail_at.call(unknown.first, "unknown key (expected tables, truncate or salt)") if unknown.any?

    salt = [env["SANITIZE_SALT"], data["salt"]].find { |s| s && s != "" } || ""
    raise fail_at.call("salt", "expected a string") unless salt.is_a?(String)

    tables_data = data["tables"] || {}
    raise fail_at.call("tables", "expected a mapping of table name to its rule") unless tables_data.is_a?(Hash)

    tables = tables_data.map do |key, spec|
      key = key.to_s
      at = "tables.#{key}"
      raise fail_at.call(at, "expected a mapping with columns: (and optionally where:)") unless spec.is_a?(Hash)

      unknown = spec.keys.map(&:to_s) - %w[columns where]
      raise fail_at.call("#{at}.#{unknown.first}", "unknown key (expected columns or where)") if unknown.any?

      where = spec["where"]
      if !where.nil? && (!where.is_a?(String) || where.strip.empty?)
        raise fail_at.call("#{at}.where", "expected an SQL condition as a string")
      end
      columns_data = spec["columns"] || {}
      raise fail_at.call("#{at}.columns", "expected a mapping of column name to strategy") unless columns_data.is_a?(Hash)

      columns = columns_data.map do |column, strategy|
        column = column.to_s
        cat = "#{at}.columns.#{column}"
        strategy = "null" if strategy.nil?
        if strategy.is_a?(Hash)
          raise fail_at.call(cat, "expected a strategy name or {constant: VALUE}") unless strategy.keys == ["constant"]

          value = strategy["constant"]
          if value.nil? || value.is_a?(Hash) || value.is_a?(Array)
            raise fail_at.call(cat, "constant needs a value (use null for NULL)")
          end
          next ColumnRule.new(column, "constant", scalar_text(value))
        end
        unless strategy.is_a?(String) && STRATEGIES.include?(strategy) && strategy != "constant"
          raise fail_at.call(cat, "unknown strategy #{strategy.inspect.tr('"', "'")} (expected one of: " \
                                  "email, name, phone, address, hash, null, blank, " \
                                  "{constant: VALUE}, keep)")
        end
        ColumnRule.new(column, strategy, nil)
      end
      TableRule.new(key, where&.strip, columns)
    end

    truncate = data["truncate"] || []
    unless truncate.is_a?(Array) && truncate.all? { |t| t.is_a?(String) }
      raise fail_at.call("truncate", "expected a list of table names")
    end
    Rules.new(path, salt, tables, truncate)
  end

  def load_rules(path, env = ENV)
    text = File.read(path, encoding: "UTF-8")
    data = YAML.safe_load(text, permitted_classes: [Date], aliases: false)
    parse_rules(data, path.to_s, env)
  rescue Errno::ENOENT
    raise Error, "#{path}: no such rules file"
  rescue Psych::Exception => e
    raise Error, "#{path}: not valid YAML: #{e.message}"
  end

  def read_catalog(rows)
    tables = {}
    rows.each do |schema, name, column, not_null, base_type, max_length, unique, pk_position|
      table = (tables[[schema, name]] ||= Table.new(schema, name))
      table.columns[column] = Column.new(column, truthy(not_null), base_type,
                                         max_length&.to_i, truthy(unique), pk_position.to_i)
    end
    tables
  end

  def truthy(value)
    [true, "t", "true"].include?(value)
  end

  def looks_personal?(column)
    snake = column.gsub(/([a-z0-9])([A-Z])/, '\1_\2').downcase
    words = snake.split(/[^a-z0-9]+/).reject(&:empty?)
    words.any? { |w| PERSONAL_WORDS.include?(w) } || PERSONAL_PARTS.any? { |p| snake.include?(p) }
  end

  def quote_ident(name)
    "\"#{name.gsub('"', '""')}\""
  end

  def quote_literal(text)
    "'#{text.gsub("'", "''")}'"
  end

  def resolve(tables, key, search_path, path, at)
    if key.include?(".")
      schema, name = key.split(".", 2)
      return tables[[schema, name]] if tables.key?([schema, name])
    else
      search_path.each { |schema| return tables[[schema, key]] if tables.key?([schema, key]) }
    end
    where = key.include?(".") ? "" : " (search path: #{search_path.empty? ? 'empty' : search_path.join(', ')})"
    raise Error, "#{path}: #{at}: no table #{key} in the database#{where}"
  end

  # The SET expression for one column, and the verify condition that counts failures.
  #
  # Values derive from the row's primary key when the table has one and the column is not
  # part of it: stable across reruns, unique, and cheap to index (they arrive in key order).
  # Otherwise from an md5 of the salt and the value, which keeps distinct values distinct;
  # those are checked in the statement itself, since the original is gone afterwards.
  def column_expression(rule, column, table, key_columns, salt, path, at)
    col = quote_ident(column.name)
    strategy = rule.strategy
    text_like = TEXT_TYPES.include?(column.base_type)
    if (GENERATED.include?(strategy) || strategy == "blank") && !text_like
      raise Error, "#{path}: #{at}: #{strategy} needs a text column, " \
                   "#{table.label}.#{column.name} is #{column.base_type} (use null, constant or keep)"
    end
    if strategy == "null"
      if column.not_null
        raise Error, "#{path}: #{at}: #{table.label}.#{column.name} is NOT NULL " \
                     "(use blank, constant or a generated strategy)"
      end
      return ["NULL", "#{col} IS NOT NULL"]
    end
    if %w[blank constant].include?(strategy)
      if column.unique
        raise Error, "#{path}: #{at}: #{table.label}.#{column.name} is unique, so " \
                     "#{strategy} would repeat one value (use email, name, phone, address, hash or null)"
      end
      literal = strategy == "blank" ? "''" : quote_literal(rule.value.to_s)
      return ["CASE WHEN #{col} IS NULL THEN NULL ELSE #{literal} END",
              "#{col} IS NOT NULL AND #{col} IS DISTINCT FROM #{literal}"]
    end

    limit = column.max_length
    if limit && column.unique && limit < 16
      raise Error, "#{path}: #{at}: #{table.label}.#{column.name} is unique and holds " \
                   "only #{limit} characters, too few for a unique replacement"
    end
    digest = "md5(#{quote_literal(salt)} || #{col}::text)"
    by_key = strategy != "hash" && !key_columns.empty?
    if strategy == "hash"
      value = digest
    else
      key = by_key ? key_columns.map { |k| "#{quote_ident(k)}::text" }.join(" || '-' || ") : "left(#{digest}, 16)"
      prefix, suffix = SHAPES.fetch(strategy)
      parts = []
      parts << quote_literal(prefix) unless prefix.empty?
      parts << key
      parts << quote_literal(suffix) unless suffix.empty?
      value = parts.join(" || ")
    end
    value = "left(#{value}, #{limit})" if limit
    if by_key
      return ["CASE WHEN #{col} IS NULL THEN NULL ELSE #{value} END",
              "#{col} IS NOT NULL AND #{col}::text IS DISTINCT FROM #{value}"]
    end
    # No key to recompute from afterwards: fail the statement if a value came out unchanged.
    message = quote_literal("sanitize: #{table.label}.#{column.name} kept an original value")
    failure = "CAST(CAST(left(#{col}::text, 0) || #{message} AS integer) AS text)"
    ["CASE WHEN #{col} IS NULL THEN NULL ELSE coalesce(nullif(#{value}, #{col}::text), #{failure}) END", nil]
  end

  def compile_plan(rules, tables, search_path)
    path = rules.path
    steps = []
    covered = {}
    truncated = {}
    emptied = []
    seen = {}

    rules.truncate.each_with_index do |key, index|
      table = resolve(tables, key, search_path, path, "truncate[#{index}] (#{key})")
      next if truncated.key?([table.schema, table.name])

      truncated[[table.schema, table.name]] = true
      emptied << table
    end

    rules.tables.each do |rule|
      at = "tables.#{rule.key}"
      table = resolve(tables, rule.key, search_path, path, at)
      ident = [table.schema, table.name]
      raise Error, "#{path}: #{at}: #{table.label} is also in truncate:, choose one" if truncated.key?(ident)
      raise Error, "#{path}: #{at}: #{table.label} already has a rule (tables.#{seen[ident]})" if seen.key?(ident)

      seen[ident] = rule.key
      changed = rule.columns.reject { |c| c.strategy == "keep" }.map(&:column)
      # The primary key names each row, unless a rule changes it.
      key_columns = (changed & table.primary_key).empty? ? table.primary_key : []
      assignments = []
      checks = []
      labels = []
      rule.columns.each do |column_rule|
        cat = "#{at}.columns.#{column_rule.column}"
        column = table.columns[column_rule.column]
        unless column
          raise Error, "#{path}: #{cat}: no column #{column_rule.column} in #{table.label} " \
                       "(it has: #{table.columns.keys.join(', ')})"
        end
        covered[[table.schema, table.name, column.name]] = true
        next if column_rule.strategy == "keep"

        expression, check = column_expression(column_rule, column, table, key_columns, rules.salt, path, cat)
        assignments << "#{quote_ident(column.name)} = #{expression}"
        next unless check

        checks << check
        labels << column.name
      end
      next if assignments.empty?

      where = rule.where ? " WHERE (#{rule.where})" : ""
      scope = rule.where ? "(#{rule.where}) AND " : ""
      counts = checks.map { |check| ", count(*) FILTER (WHERE #{scope}#{check})" }.join
      steps << Step.new(table.label, "update",
                        "SELECT count(*) FROM #{table.qualified}",
                        "UPDATE #{table.qualified} SET #{assignments.join(', ')}#{where}",
                        "SELECT count(*)#{counts} FROM #{table.qualified}",
                        labels)
    end

    unless emptied.empty?
      # One statement, so tables that reference each other empty together.
      counts = emptied.map { |t| "(SELECT count(*) FROM #{t.qualified})" }.join(", ")
      steps << Step.new(emptied.map(&:label).join(", "), "truncate",
                        "SELECT #{counts}",
                        "TRUNCATE TABLE #{emptied.map(&:qualified).join(', ')}",
                        "SELECT #{counts}",
                        emptied.map(&:label))
    end

    uncovered = tables.keys.sort.reject { |ident| truncated.key?(ident) }.flat_map do |ident|
      table = tables[ident]
      table.columns.values.select do |column|
        looks_personal?(column.name) && !covered.key?([table.schema, table.name, column.name])
      end.map { |column| "#{table.label}.#{column.name}" }
    end
    Plan.new(steps, uncovered)
  end

  def plan_for(connection, rules, allow_uncovered: false)
    tables = read_catalog(connection.exec(CATALOG_SQL).values)
    search_path = parse_array(connection.exec("SELECT current_schemas(false)").getvalue(0, 0))
    plan = compile_plan(rules, tables, search_path)
    if !plan.uncovered.empty? && !allow_uncovered
      raise Error, "#{rules.path}: these columns look personal and no rule covers them: " \
                   "#{plan.uncovered.join(', ')}. Add a strategy for each, or `keep` once reviewed " \
                   "(--allow-uncovered runs anyway)."
    end
    plan
  end

  # A text-format PostgreSQL array of schema names.
  def parse_array(text)
    return text if text.is_a?(Array)

    inner = text.to_s[1...-1].to_s
    return [] if inner.empty?

    inner.scan(/"((?:[^"\\]|\\.)*)"|([^,]+)/).map { |quoted, bare| quoted ? quoted.gsub(/\\(.)/, '\1') : bare }
  end

  # Sanitize through a PG::Connection (ActiveRecord's raw_connection), all or nothing.
  def run(connection, rules, allow_uncovered: false, dry_run: false, out: $stdout, env: ENV)
    allowed = guard(env)
    started = clock
    connection.exec("BEGIN")
    begin
      plan = plan_for(connection, rules, allow_uncovered: allow_uncovered)
      out.puts "sanitize: not covered, allowed: #{plan.uncovered.join(', ')}" unless plan.uncovered.empty?
      if dry_run
        out.write(plan.sql)
        connection.exec("ROLLBACK")
        return plan
      end
      out.puts "sanitize: #{allowed}; #{plan.steps.size} tables, one transaction"
      plan.steps.each do |step|
        began = clock
        before = connection.exec(step.count_sql).values.first.map(&:to_i)
        changed = connection.exec(step.change_sql).cmd_tuples
        after = connection.exec(step.verify_sql).values.first.map(&:to_i)
        elapsed = format("%.2f", clock - began)
        if step.kind == "truncate"
          verify_truncate(step, after)
          step.checks.zip(before).each { |label, count| out.puts "sanitize: #{label}: truncated #{count} rows in #{elapsed}s" }
        else
          verify_update(step, before.first, after)
          out.puts "sanitize: #{step.label}: updated #{changed} of #{before.first} rows in #{elapsed}s"
        end
      end
      connection.exec("COMMIT")
    rescue Exception # rubocop:disable Lint/RescueException -- roll back on interrupts too
      connection.exec("ROLLBACK") if connection.transaction_status != PG::PQTRANS_IDLE
      raise
    end
    out.puts "sanitize: committed and verified in #{format('%.2f', clock - started)}s"
    plan
  end

  def verify_truncate(step, after)
    left = step.checks.zip(after).select { |_, count| count.positive? }.map { |label, count| "#{label} (#{count} rows)" }
    raise Error, "verification failed: rows left after TRUNCATE in #{left.join(', ')}; nothing was changed" unless left.empty?
  end

  def verify_update(step, before, verified)
    after, *failures = verified
    if after != before
      raise Error, "verification failed: #{step.label} had #{before} rows and now has #{after}; nothing was changed"
    end

    bad = step.checks.zip(failures).select { |_, count| count.positive? }.map { |column, count| "#{column} (#{count} rows)" }
    return if bad.empty?

    raise Error, "verification failed: #{step.label}: values not replaced as the rules say in " \
                 "#{bad.join(', ')}; nothing was changed"
  end

  def clock
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Command line: ruby lib/heroku_sanitize.rb [--rules FILE] [--database-url URL] [--dry-run]
  def main(argv, env: ENV)
    require "optparse"
    options = { rules: env.fetch("SANITIZE_RULES", "config/sanitize.yml"), database_url: env["DATABASE_URL"],
                allow_uncovered: env["ALLOW_UNCOVERED"] == "1", dry_run: false }
    OptionParser.new do |o|
      o.banner = "Usage: ruby lib/heroku_sanitize.rb [options]\n" \
                 "Scrub personal data from this (non-production) database in place, " \
                 "following the rules file, in one transaction."
      o.on("--rules FILE", "rules file (default: config/sanitize.yml, or $SANITIZE_RULES)") { |v| options[:rules] = v }
      o.on("--database-url URL", "PostgreSQL URL (default: $DATABASE_URL)") { |v| options[:database_url] = v }
      o.on("--allow-uncovered", "run even when personal-looking columns have no rule") { options[:allow_uncovered] = true }
      o.on("--dry-run", "check the rules and print the SQL; change nothing") { options[:dry_run] = true }
    end.parse!(argv)
    guard(env)
    rules = load_rules(options[:rules], env)
    raise Error, "no database: pass --database-url or set DATABASE_URL" unless options[:database_url]

    require "pg"
    connection = PG.connect(options[:database_url])
    begin
      run(connection, rules, allow_uncovered: options[:allow_uncovered], dry_run: options[:dry_run], env: env)
    ensure
      connection.close
    end
    0
  rescue Error => e
    warn "sanitize: #{e.message}"
    1
  end
end

if $PROGRAM_NAME == __FILE__
  $stdout.sync = true
  exit HerokuSanitize.main(ARGV)
end
