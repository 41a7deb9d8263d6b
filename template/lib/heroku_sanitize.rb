# frozen_string_literal: true

# Sanitize a PostgreSQL database in place from declarative rules (config/sanitize.yml),
# written by copier-heroku. `bin/rails db:sanitize` runs it; `ruby lib/heroku_sanitize.rb
# --help` runs it on its own with the pg gem, or without a database (--catalog).
#
# The rules compile into set-based SQL: one UPDATE per table (every column at once), or in
# offline mode one ALTER TABLE that rewrites the table whole, plus one TRUNCATE; all of it
# runs in a single transaction, checked before the first write and verified before the
# commit. The Python engine of the Django and Flask stacks (heroku_sanitize/engine.py) is
# the same engine: both read the catalog with config/sanitize_catalog.sql, accept the same
# YAML, print the same SQL and the same messages. Change one, change the other.
require "json"

module HerokuSanitize
  STRATEGIES = %w[email name phone address hash null blank constant keep].freeze
  GENERATED = %w[email name phone address].freeze
  # Shapes of generated values, [prefix, suffix] around the row key: the full shape first,
  # then the compact one used when a length limit leaves no room for the full one.
  FORMS = {
    "email" => [["user", "@example.invalid"], ["u", "@x.invalid"]],
    "name" => [["User ", ""], ["", ""]],
    "phone" => [["555-", ""], ["", ""]],
    "address" => [["", " Example Street"], ["", ""]]
  }.freeze
  # Longest text of an integer key, so a limit that fits it needs no fallback.
  KEY_TEXT_LENGTH = { "int2" => 6, "int4" => 11, "int8" => 20 }.freeze
  TEXT_TYPES = %w[text varchar bpchar citext].freeze
  # Columns whose values the content check reads: text, JSON, and arrays of them.
  SCAN_TYPES = (TEXT_TYPES + %w[json jsonb xml _text _varchar _bpchar _citext _json _jsonb]).freeze
  ALLOWED_STAGES = %w[staging review development test].freeze
  PRODUCTION_STAGES = %w[production prod].freeze
  MODES = %w[online offline].freeze
  MIN_SALT = 16
  MIN_UNIQUE_DIGEST = 8 # hex digits of md5 that must fit where a unique value is hashed
  SAMPLE_ROWS = 10_000
  # A rewrite rebuilds the table's indexes; sorting them in memory saves a fifth to two
  # fifths of its time on a million rows. Raised for the run's transaction, never lowered.
  REWRITE_MEMORY = "SELECT set_config('maintenance_work_mem', CASE WHEN pg_size_bytes(current_setting(" \
                   "'maintenance_work_mem')) < pg_size_bytes('256MB') THEN '256MB' ELSE current_setting(" \
                   "'maintenance_work_mem') END, true)"
  CATALOG_FILE = "sanitize_catalog.sql"

  # A column name looks personal when one of its words is in PERSONAL_WORDS (or, for text
  # columns, TEXT_WORDS), or its words run together contain one of PERSONAL_PARTS: so
  # "e_mail", "postalCode" and "encrypted_password" count, "zipper" and "hotel" do not. The
  # list follows PostgreSQL Anonymizer's identifier dictionary and the usual PII scanners.
  PERSONAL_WORDS = %w[
    name names ip ipv4 ipv6 ssn sin nin nino dob zip postcode postal street city mobile cell
    tel fax mail iban bic passport lat lng lon geo gps coords coordinates msisdn imei cvv cvc
    ccn
  ].freeze
  TEXT_WORDS = %w[login user].freeze
  PERSONAL_PARTS = %w[
    email phone passw token secret address birth surname firstname lastname fullname
    middlename maidenname username nickname zipcode postcode postalcode creditcard
    cardnumber cardno iban passport nationalid nationalidentity socialsecurity taxnumber
    useragent ipaddr macaddr latitude longitude geolocation driverlicen
  ].freeze
  PERSONAL_TYPES = %w[inet macaddr macaddr8].freeze

  # What the content check looks for, as PostgreSQL regular expressions. E-mail addresses at
  # reserved domains (example.com, *.invalid, *.test ...) are what sanitize writes, not
  # personal data.
  ADDR = '[^][:space:]@<>()[,;:"\'`\\\\/]'
  LABEL = '[^][:space:]@<>()[,;:"\'`\\\\/.]'
  EMAIL_PATTERN = "(?i)#{ADDR}+@(?!(?:#{LABEL}+\\.)*(?:example\\.(?:com|net|org)|invalid|test|example|" \
                  "localhost)(?!#{ADDR}))(?:#{LABEL}+\\.)+[[:alpha:]]{2,}"
  PHONE_PATTERN = '\\+[0-9][0-9 ().-]{6,20}[0-9]' \
                  '|\\(?[2-9][0-9]{2}\\)?[ .-][0-9]{3}[ .-][0-9]{4}' \
                  '|(?:^|")0[0-9]{1,4}[ ().-][0-9 ().-]{5,14}[0-9](?:"|$)'
  OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
  HEX = "[0-9A-Fa-f]{1,4}"
  IP_PATTERN = "(?<![0-9.])(?:#{OCTET}\\.){3}#{OCTET}(?![0-9.])" \
               "|(?<![0-9A-Fa-f:])(?:#{HEX}:){7}#{HEX}(?![0-9A-Fa-f:])" \
               "|(?<![0-9A-Fa-f:])#{HEX}(?::#{HEX}){1,6}::(?:#{HEX}(?::#{HEX}){0,5})?" \
               "(?![0-9A-Fa-f:])"
  CARD_PATTERN = "(?<![0-9])[3-6][0-9](?:[ -]?[0-9]){11,17}(?![0-9])"
  FINDINGS = ["e-mail addresses", "phone numbers", "IP addresses", "card numbers"].freeze

  # Anything that stops the run: one sentence for the user, without its ending. The command
  # prints it as `sanitize: MESSAGE; nothing was changed.`, which is true of every failure
  # but a connection lost during the commit (unsure).
  class Error < StandardError
    attr_reader :unsure

    def initialize(message, unsure: false)
      super(message)
      @unsure = unsure
    end
  end

  # A signal ended the run; the transaction rolls back on the way out.
  class Stopped < Exception # rubocop:disable Lint/InheritException -- like Interrupt
    attr_reader :name, :status

    def initialize(name, status)
      super(name)
      @name = name
      @status = status
    end
  end

  # The database refused a statement: its primary message.
  class DatabaseRefused < StandardError
    attr_reader :primary

    def initialize(primary)
      super(primary)
      @primary = primary
    end
  end

  ColumnRule = Struct.new(:column, :strategy, :value, :reason)
  TableRule = Struct.new(:key, :where, :columns, :where_has_subquery)
  Rules = Struct.new(:path, :salt, :tables, :truncate)
  Column = Struct.new(:name, :not_null, :base_type, :sql_type, :max_length, :unique, :pk_position,
                      :generated, :collation, :rewrite_blocker)
  # The content check over some tables: which columns of which table, and its SQL.
  Scan = Struct.new(:parts, :sql)
  # A read before any write: its SQL, what it checks (for a database error), and what a
  # non-NULL first value means.
  Check = Struct.new(:sql, :at, :subject, :finding)
  # One table's work: count, change, verify; in the order the rules file gives.
  Step = Struct.new(:label, :at, :kind, :count_sql, :change_sql, :verify_sql, :checks, :note,
                    :analyze_sql, :where)

  # A relation that holds rows: a table (r), a partitioned table (p), a materialized view (m)
  # or a foreign table (f).
  class Table
    attr_reader :schema, :name, :kind, :populated, :refresh_level, :has_children, :columns

    def initialize(schema, name, kind, populated, refresh_level, has_children)
      @schema = schema
      @name = name
      @kind = kind
      @populated = populated
      @refresh_level = refresh_level
      @has_children = has_children
      @columns = {}
    end

    def qualified
      "#{HerokuSanitize.quote_ident(schema)}.#{HerokuSanitize.quote_ident(name)}"
    end

    # The table in a FROM, UPDATE or TRUNCATE, without its inheritance children.
    def only
      has_children ? "ONLY #{qualified}" : qualified
    end

    def label
      "#{schema}.#{name}"
    end

    def primary_key
      columns.values.select { |c| c.pk_position.positive? }.sort_by(&:pk_position).map(&:name)
    end

    def what
      { "r" => "table", "p" => "partitioned table", "m" => "materialized view",
        "f" => "foreign table" }.fetch(kind, "relation")
    end
  end

  Plan = Struct.new(:mode, :casts, :steps, :unique_checks, :refreshes, :prescan, :postscan,
                    :uncovered, :settings) do
    # Every statement, in the order a run sends them.
    def sql
      lines = ["-- sanitize plan, #{mode} mode: checks before any change"]
      lines += casts.map { |c| "#{c.sql};" }
      lines += steps.map { |s| "#{s.count_sql};" }
      lines += unique_checks.map { |c| "#{c.sql};" }
      lines << "#{prescan.sql};" if prescan
      lines << "-- changes, each verified"
      lines += settings.map { |sql| "#{sql};" }
      steps.each do |step|
        lines << "-- #{step.note}" if step.note
        lines += ["#{step.change_sql};", "#{step.verify_sql};"]
      end
      lines += refreshes.map { |_, sql| "#{sql};" }
      lines << "-- what no rule changed holds nothing personal"
      lines << "#{postscan.sql};" if postscan
      lines += steps.select(&:analyze_sql).map { |s| "#{s.analyze_sql};" }
      "#{lines.join("\n")}\n"
    end
  end

  module_function

  def sentence(error)
    return "sanitize: #{error.message}." if error.unsure

    "sanitize: #{error.message}; nothing was changed."
  end

  # --- guard -----------------------------------------------------------------------------

  # Refuse production. Returns the stage it allows, in words; raises otherwise.
  #
  # APP_STAGE alone decides, on every stack: only a known non-production stage, written as
  # the setup script writes it, is allowed. Framework variables (RAILS_ENV, ...) cannot vouch
  # for a database: staging runs RAILS_ENV=production, and an unset APP_STAGE counts as
  # production, as the apps themselves count it.
  def guard(env = ENV)
    stage = env.fetch("APP_STAGE", "").to_s.strip
    return "APP_STAGE=#{stage}" if ALLOWED_STAGES.include?(stage)

    what = if stage.empty?
             "APP_STAGE is unset, which counts as production"
           elsif stage == "production"
             "APP_STAGE is production"
           elsif PRODUCTION_STAGES.include?(stage.downcase)
             "APP_STAGE is #{quote_text(stage)}, which means production"
           else
             "APP_STAGE is #{quote_text(stage)}, not a known stage, which counts as production"
           end
    raise Error, "refusing to run: #{what} (sanitize runs only where APP_STAGE is " \
                 "#{ALLOWED_STAGES[0...-1].join(', ')} or #{ALLOWED_STAGES[-1]})"
  end

  # A value inside a message: single-quoted, the same way in both engines.
  def quote_text(text)
    "'#{text.gsub('\\', '\\\\\\\\').gsub("'", "\\\\'")}'"
  end

  # --- the YAML subset -------------------------------------------------------------------
  #
  # Both engines read YAML through libyaml's events and build the data themselves, so they
  # accept the same files and read them the same way: mappings, sequences, anchors and
  # aliases; every scalar is text as written (`2020-01-01`, `yes` and `007` stay text, for
  # the column's type to read), except a plain empty, `~` or `null`, which is null. Tags
  # other than !!str, merge keys (<<) and duplicate keys are refused.

  STR_TAG = "tag:yaml.org,2002:str"
  NULLS = ["", "~", "null", "Null", "NULL"].freeze
  MAX_NODES = 100_000

  def parse_yaml(text, path)
    require "psych"
    begin
      stream = Psych.parse_stream(text)
    rescue Psych::SyntaxError => e
      problem = [e.problem, e.context].compact.join(" ")
      raise Error, "#{path}: not valid YAML at line #{e.line}, column #{e.column}: #{problem}"
    end
    documents = stream.children.map { |document| YamlBuilder.new(path).node(document.root) }
    if documents.size > 1
      raise Error, "#{path}: holds #{documents.size} YAML documents (---), the rules take one"
    end

    documents.first
  end

  # Builds data from Psych's nodes the way the Python engine builds it from libyaml's events.
  class YamlBuilder
    def initialize(path)
      @path = path
      @anchors = {}
      @active = {}
      @count = 0
    end

    def fail(node, message)
      Error.new("#{@path}: not valid YAML at line #{node.start_line + 1}, column " \
                "#{node.start_column + 1}: #{message}")
    end

    def node(node)
      @count += 1
      raise Error, "#{@path}: expands to more than #{MAX_NODES} YAML nodes" if @count > MAX_NODES

      if node.is_a?(Psych::Nodes::Alias)
        raise fail(node, "found undefined alias") unless @anchors.key?(node.anchor)
        raise fail(node, "an alias refers to the node that contains it") if @active.key?(node.anchor)

        @active[node.anchor] = true
        value = node(@anchors[node.anchor])
        @active.delete(node.anchor)
        return value
      end
      anchor = node.anchor
      unless anchor.nil?
        @anchors[anchor] = node
        @active[anchor] = true
      end
      tag = node.tag
      value =
        case node
        when Psych::Nodes::Scalar
          raise fail(node, "the tag #{tag} is not supported (write the value as plain text)") unless [nil, STR_TAG].include?(tag)

          tag.nil? && node.style == Psych::Nodes::Scalar::PLAIN && NULLS.include?(node.value) ? nil : node.value
        when Psych::Nodes::Sequence
          raise fail(node, "the tag #{tag} is not supported") unless [nil, "tag:yaml.org,2002:seq"].include?(tag)

          node.children.map { |child| node(child) }
        else
          raise fail(node, "the tag #{tag} is not supported") unless [nil, "tag:yaml.org,2002:map"].include?(tag)

          mapping(node)
        end
      @active.delete(anchor) unless anchor.nil?
      value
    end

    def mapping(node)
      value = {}
      node.children.each_slice(2) do |key_node, value_node|
        key = node(key_node)
        raise fail(key_node, "a key must be plain text") unless key.is_a?(String)

        plain = key_node.is_a?(Psych::Nodes::Scalar) && key_node.style == Psych::Nodes::Scalar::PLAIN
        if key == "<<" && plain
          raise fail(key_node, "merge keys (<<) are not supported (repeat the keys, or alias the whole mapping)")
        end
        raise fail(key_node, "duplicate key #{key}") if value.key?(key)

        value[key] = node(value_node)
      end
      value
    end
  end

  # --- rules -----------------------------------------------------------------------------

  # Check the rules file's shape; every error names the file and the rule.
  def parse_rules(data, path, env = ENV)
    fail_at = ->(where, message) { Error.new("#{path}: #{where}: #{message}") }
    data = {} if data.nil?
    raise fail_at.call("top level", "expected a mapping with tables:, truncate: and salt:") unless data.is_a?(Hash)

    unknown = data.keys - %w[tables truncate salt]
    raise fail_at.call(unknown.first, "unknown key (expected tables, truncate or salt)") unless unknown.empty?

    salt = [env["SANITIZE_SALT"], data["salt"]].find { |s| !falsy?(s) } || ""
    raise fail_at.call("salt", "expected text") unless salt.is_a?(String)

    tables_data = falsy?(data["tables"]) ? {} : data["tables"]
    raise fail_at.call("tables", "expected a mapping of table name to its rule") unless tables_data.is_a?(Hash)

    tables = tables_data.map do |key, spec|
      at = "tables.#{key}"
      raise fail_at.call(at, "expected a mapping with columns: (and optionally where:)") unless spec.is_a?(Hash)

      unknown = spec.keys - %w[columns where]
      raise fail_at.call("#{at}.#{unknown.first}", "unknown key (expected columns or where)") unless unknown.empty?

      where = spec["where"]
      if !where.nil? && (!where.is_a?(String) || where.strip.empty?)
        raise fail_at.call("#{at}.where", "expected an SQL condition as text")
      end
      subquery = false
      unless where.nil?
        problem, subquery = check_where(where)
        raise fail_at.call("#{at}.where", "#{problem} (where: takes one SQL condition)") if problem
      end
      columns_data = falsy?(spec["columns"]) ? {} : spec["columns"]
      raise fail_at.call("#{at}.columns", "expected a mapping of column name to strategy") unless columns_data.is_a?(Hash)

      rule = TableRule.new(key, where&.strip, [], subquery)
      columns_data.each do |column, strategy|
        cat = "#{at}.columns.#{column}"
        strategy = "null" if strategy.nil?
        if strategy.is_a?(Hash)
          unless strategy.size == 1 && %w[constant keep].include?(strategy.keys.first)
            raise fail_at.call(cat, "expected a strategy name, {constant: VALUE} or {keep: REASON}")
          end

          name, value = strategy.first
          if name == "constant"
            raise fail_at.call(cat, "constant needs one value as text (use null for NULL)") unless value.is_a?(String)

            rule.columns << ColumnRule.new(column, "constant", value, nil)
          else
            unless value.is_a?(String) && !value.strip.empty?
              raise fail_at.call(cat, "keep: needs the reason the column is safe to keep")
            end

            rule.columns << ColumnRule.new(column, "keep", nil, value.strip)
          end
          next
        end
        unless strategy.is_a?(String) && STRATEGIES.include?(strategy) && strategy != "constant"
          shown = strategy.is_a?(String) ? quote_text(strategy) : "a list"
          raise fail_at.call(cat, "unknown strategy #{shown} (expected one of: email, name, " \
                                  "phone, address, hash, null, blank, {constant: VALUE}, keep, " \
                                  "{keep: REASON})")
        end
        rule.columns << ColumnRule.new(column, strategy, nil, nil)
      end
      rule
    end

    truncate = falsy?(data["truncate"]) ? [] : data["truncate"]
    unless truncate.is_a?(Array) && truncate.all? { |t| t.is_a?(String) }
      raise fail_at.call("truncate", "expected a list of table names")
    end
    Rules.new(path, salt, tables, truncate)
  end

  # What Python counts as false among YAML data: nothing, empty text, an empty list or mapping.
  def falsy?(value)
    value.nil? || value.empty?
  end

  def load_rules(path, env = ENV)
    begin
      raw = File.binread(path)
    rescue Errno::ENOENT
      raise Error, "#{path}: no such rules file"
    rescue SystemCallError => e
      raise Error, "#{path}: cannot read the rules file (#{e.message.sub(/ @ .*/, '')})"
    end
    text = raw.force_encoding(Encoding::UTF_8)
    raise Error, "#{path}: not UTF-8 text" unless text.valid_encoding?

    parse_rules(parse_yaml(text, path.to_s), path.to_s, env)
  end

  IDENT_CHAR = /[A-Za-z0-9_$]/.freeze
  WORD = /\A[A-Za-z_][A-Za-z0-9_$]*/.freeze
  DOLLAR = /\A\$([A-Za-z_][A-Za-z0-9_]*)?\$/.freeze

  # Whether a where: text is one condition: [the problem or nil, has a subquery].
  #
  # It is read as PostgreSQL reads it, quoted strings and names included, so that a
  # semicolon, a comment or an unbalanced parenthesis outside them is refused: together
  # with the extended protocol, which runs one statement only, a condition cannot carry a
  # second statement. A subquery keeps the table off the rewrite (ALTER TABLE refuses it).
  def check_where(text)
    depth = 0
    subquery = false
    i = 0
    n = text.length
    while i < n
      ch = text[i]
      previous = i.positive? ? text[i - 1] : ""
      if ch == "'"
        escapes = %w[E e].include?(previous) && (i < 2 || !IDENT_CHAR.match?(text[i - 2]))
        i += 1
        loop do
          return ["a quoted string is not closed", subquery] if i >= n

          if escapes && text[i] == "\\"
            i += 2
            next
          end
          if text[i] == "'"
            if i + 1 < n && text[i + 1] == "'"
              i += 2
              next
            end
            break
          end
          i += 1
        end
      elsif ch == '"'
        i += 1
        loop do
          return ["a quoted name is not closed", subquery] if i >= n

          if text[i] == '"'
            if i + 1 < n && text[i + 1] == '"'
              i += 2
              next
            end
            break
          end
          i += 1
        end
      elsif ch == "$" && !IDENT_CHAR.match?(previous.empty? ? " " : previous)
        tag = DOLLAR.match(text[i..])
        if tag
          close = text.index(tag[0], i + tag[0].length)
          return ["a dollar-quoted string is not closed", subquery] if close.nil?

          i = close + tag[0].length
          next
        end
      elsif text[i, 2] == "--" || text[i, 2] == "/*"
        return ["a comment is not allowed", subquery]
      elsif ch == ";"
        return ["a semicolon ends the condition", subquery]
      elsif ch == "("
        depth += 1
      elsif ch == ")"
        return ["a parenthesis closes that was not opened", subquery] if depth.zero?

        depth -= 1
      elsif WORD.match?(ch) && !IDENT_CHAR.match?(previous.empty? ? " " : previous)
        word = WORD.match(text[i..])[0]
        subquery = true if %w[select values table].include?(word.downcase)
        i += word.length
        next
      end
      i += 1
    end
    return ["a parenthesis is not closed", subquery] if depth.positive?

    [nil, subquery]
  end

  # --- catalog ---------------------------------------------------------------------------

  # The catalog query, config/sanitize_catalog.sql beside lib/.
  def catalog_sql
    path = File.expand_path("../config/#{CATALOG_FILE}", __dir__)
    File.read(path, encoding: "UTF-8")
  rescue SystemCallError
    raise Error, "#{path}: missing (it comes with the template: run copier update)"
  end

  def flag(value)
    [true, "t", "true"].include?(value)
  end

  def read_catalog(rows)
    tables = {}
    rows.each do |schema, name, kind, column, not_null, base_type, sql_type, max_length, unique,
                  pk_position, generated, collation, blocker, populated, level, children|
      table = (tables[[schema, name]] ||= Table.new(schema, name, kind, flag(populated), level.to_i,
                                                    flag(children)))
      table.columns[column] = Column.new(column, flag(not_null), base_type, sql_type, max_length&.to_i,
                                         flag(unique), pk_position.to_i, flag(generated), collation, blocker)
    end
    tables
  end

  def looks_personal?(column, base_type = "text")
    return true if PERSONAL_TYPES.include?(base_type)

    snake = column.gsub(/([a-z0-9])([A-Z])/, '\1_\2').downcase
    words = snake.split(/[^a-z0-9]+/).reject(&:empty?)
    joined = words.join
    text_like = TEXT_TYPES.include?(base_type)
    words.any? { |w| PERSONAL_WORDS.include?(w) || (text_like && TEXT_WORDS.include?(w)) } ||
      PERSONAL_PARTS.any? { |p| joined.include?(p) }
  end

  # An example value for a message: its shape, not its content.
  def mask(example)
    return example.gsub(/[A-Za-z0-9]/, "*") if example.length <= 2

    example[0] + example[1...-1].gsub(/[A-Za-z0-9]/, "*") + example[-1]
  end

  # --- SQL -------------------------------------------------------------------------------

  def quote_ident(name)
    "\"#{name.gsub('"', '""')}\""
  end

  def quote_literal(text)
    "'#{text.gsub("'", "''")}'"
  end

  def like_escape(text)
    text.gsub(/[\\%_]/) { |c| "\\#{c}" }
  end

  def luhn(value)
    digits = "reverse(regexp_replace(#{value}, '[^0-9]', '', 'g'))"
    "(SELECT sum(CASE WHEN i % 2 = 0 THEN (2 * d) / 10 + (2 * d) % 10 ELSE d END) " \
      "% 10 = 0 FROM (SELECT i, substr(r, i, 1)::integer AS d FROM (SELECT #{digits} " \
      "AS r) x, generate_series(1, length(r)) i) y)"
  end

  # One query that finds, per column, an example of each kind of personal value: a row per
  # table, [its number, an array of four examples or NULLs per column].
  def scan_sql(parts, limit)
    patterns = [EMAIL_PATTERN, PHONE_PATTERN, IP_PATTERN, CARD_PATTERN].map { |p| quote_literal(p) }.join(", ")
    branches = parts.each.with_index(1).map do |(table, columns), number|
      picks = []
      results = []
      columns.each.with_index(1) do |column, index|
        value = "t.#{quote_ident(column.name)}::text"
        e, p, i, c = %w[e p i c].map { |letter| "#{letter}#{index}" }
        picks += ["substring(#{value} FROM sanitize_patterns.email_re) AS #{e}",
                  "substring(#{value} FROM sanitize_patterns.phone_re) AS #{p}",
                  "substring(#{value} FROM sanitize_patterns.ip_re) AS #{i}",
                  "substring(#{value} FROM sanitize_patterns.card_re) AS #{c}"]
        results += ["min(#{e})",
                    "min(CASE WHEN length(regexp_replace(#{p}, '[^0-9]', '', 'g')) BETWEEN 8 AND 15 THEN #{p} END)",
                    "min(#{i})",
                    "min(CASE WHEN #{c} IS NULL THEN NULL WHEN #{luhn(c)} THEN #{c} END)"]
      end
      sample = limit ? " LIMIT #{limit}" : ""
      "SELECT #{number}, ARRAY[#{results.join(', ')}] FROM (SELECT #{picks.join(', ')} " \
        "FROM #{table.only} AS t, sanitize_patterns#{sample}) s"
    end
    "WITH sanitize_patterns (email_re, phone_re, ip_re, card_re) AS (VALUES (#{patterns}))\n" +
      branches.join("\nUNION ALL\n")
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

  def shaped(prefix, key, suffix)
    [prefix.empty? ? "" : quote_literal(prefix), key, suffix.empty? ? "" : quote_literal(suffix)]
      .reject(&:empty?).join(" || ")
  end

  # Compiles one rules file against one catalog.
  class Compiler
    def initialize(rules, tables)
      @rules = rules
      @tables = tables
      @path = rules.path
    end

    def fail(at, message)
      Error.new("#{@path}: #{at}: #{message}")
    end

    def salt(at, strategy)
      salt = @rules.salt
      if salt.length < MIN_SALT
        size = salt.empty? ? "empty" : "only #{salt.length} characters"
        raise fail(at, "#{strategy} mixes the salt into its values, and the salt is #{size} " \
                       "(set SANITIZE_SALT, or salt: in the rules file, to at least #{MIN_SALT} " \
                       "random characters; bin/heroku-setup sets one on staging)")
      end
      HerokuSanitize.quote_literal(salt)
    end

    # The new value of one column: [SET expression, verify condition or nil, the shape its
    # values take as a condition on {v} or nil, whether values are hashed so that two rows
    # could meet].
    def value(rule, column, table, key_columns, at)
      hs = HerokuSanitize
      col = hs.quote_ident(column.name)
      strategy = rule.strategy
      where = "#{table.label}.#{column.name}"
      raise fail(at, "#{where} is a generated column, computed from other columns (rule those, and it follows)") if column.generated

      if (GENERATED + %w[hash blank]).include?(strategy) && !TEXT_TYPES.include?(column.base_type)
        raise fail(at, "#{strategy} needs a text column, #{where} is #{column.sql_type} (use null, constant or keep)")
      end
      if strategy == "null"
        raise fail(at, "#{where} is NOT NULL (use blank, constant or a generated strategy)") if column.not_null

        return ["NULL", "#{col} IS NOT NULL", nil, false]
      end
      if %w[blank constant].include?(strategy)
        if column.unique
          raise fail(at, "#{where} is unique, so #{strategy} would repeat one value " \
                         "(use email, name, phone, address, hash or null)")
        end
        if strategy == "blank"
          literal = "''"
        else
          text = rule.value || ""
          if !column.max_length.nil? && text.length > column.max_length
            raise fail(at, "constant #{hs.quote_text(text)} is #{text.length} characters, #{where} holds #{column.max_length}")
          end

          literal = "CAST(#{hs.quote_literal(text)} AS #{column.sql_type})"
        end
        return ["CASE WHEN #{col} IS NULL THEN NULL ELSE #{literal} END",
                "#{col} IS NOT NULL AND #{col}::text IS DISTINCT FROM #{literal}::text", nil, false]
      end

      limit = column.max_length
      if strategy == "hash"
        digest = "md5(#{salt(at, strategy)} || #{col}::text)"
        if !limit.nil? && limit < 32
          if column.unique && limit < MIN_UNIQUE_DIGEST
            raise fail(at, "#{where} is unique and holds only #{limit} characters, too few for a unique hash")
          end

          digest = "left(#{digest}, #{limit})"
        end
        return [unchanged_guard(col, digest, table, column), nil, "{v} ~ '^[0-9a-f]+$'", column.unique]
      end
      full, compact = FORMS.fetch(strategy)
      need = compact[0].length + compact[1].length + (column.unique ? MIN_UNIQUE_DIGEST : 1)
      if !limit.nil? && limit < need
        raise fail(at, "#{where} holds only #{limit} characters, too few for " \
                       "#{column.unique ? 'unique ' : ''}#{strategy} values (they need #{need})")
      end
      shape = if compact.any? { |part| !part.empty? }
                "(#{[full, compact].map do |p, s|
                  "{v} LIKE #{hs.quote_literal("#{hs.like_escape(p)}%#{hs.like_escape(s)}")}"
                end.join(' OR ')})"
              end
      if key_columns.empty?
        digest = "md5(#{salt(at, strategy)} || #{col}::text)"
        [full, compact].each do |prefix, suffix|
          room = limit.nil? ? nil : limit - prefix.length - suffix.length
          if room.nil? || room >= 16
            return [unchanged_guard(col, hs.shaped(prefix, "left(#{digest}, 16)", suffix), table, column),
                    nil, shape, column.unique]
          end
        end
        prefix, suffix = compact
        value = hs.shaped(prefix, "left(#{digest}, #{limit - prefix.length - suffix.length})", suffix)
        return [unchanged_guard(col, value, table, column), nil, shape, column.unique]
      end

      key = key_columns.map { |k| "#{hs.quote_ident(k)}::text" }.join(" || '-' || ")
      lengths = key_columns.map { |k| KEY_TEXT_LENGTH[table.columns[k].base_type] }
      longest = lengths.include?(nil) ? nil : lengths.sum + lengths.size - 1
      hashed = false
      if limit.nil?
        value = hs.shaped(full[0], key, full[1])
      else
        branches = []
        [full, compact].each do |prefix, suffix|
          room = limit - prefix.length - suffix.length
          next if room <= 0

          shaped = hs.shaped(prefix, key, suffix)
          if !longest.nil? && longest <= room
            branches << [nil, shaped]
            break
          end
          branches << ["length(#{key}) <= #{room}", shaped]
        end
        if branches.empty? || !branches[-1][0].nil?
          prefix, suffix = compact
          room = limit - prefix.length - suffix.length
          branches << [nil, hs.shaped(prefix, "left(md5(#{key}), #{room})", suffix)]
          hashed = true
        end
        value = if branches.size == 1
                  branches[0][1]
                else
                  "CASE #{branches[0...-1].map { |test, s| "WHEN #{test} THEN #{s}" }.join(' ')} " \
                    "ELSE #{branches[-1][1]} END"
                end
      end
      ["CASE WHEN #{col} IS NULL THEN NULL ELSE #{value} END",
       "#{col} IS NOT NULL AND #{col}::text IS DISTINCT FROM #{value}",
       shape, column.unique && hashed]
    end

    # No key to recompute from afterwards: fail the statement if a value came out unchanged.
    def unchanged_guard(col, value, table, column)
      message = HerokuSanitize.quote_literal("sanitize: #{table.label}.#{column.name} kept an original value")
      failure = "CAST(CAST(left(#{col}::text, 0) || #{message} AS integer) AS text)"
      "CASE WHEN #{col} IS NULL THEN NULL ELSE coalesce(nullif(#{value}, #{col}::text), #{failure}) END"
    end
  end

  def compile_plan(rules, tables, search_path, mode = "online", allow_uncovered = false)
    path = rules.path
    compiler = Compiler.new(rules, tables)
    steps = []
    casts = []
    unique_checks = []
    covered = {}
    changed_columns = {}
    reasoned = {}
    truncated = {}
    seen = {}

    emptied = []
    rules.truncate.each_with_index do |key, index|
      at = "truncate[#{index}] (#{key})"
      table = resolve(tables, key, search_path, path, at)
      unless %w[r p].include?(table.kind)
        raise Error, "#{path}: #{at}: #{table.label} is a #{table.what}, which TRUNCATE cannot empty"
      end
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
      rule.columns.each do |column_rule|
        next if table.columns.key?(column_rule.column)

        raise Error, "#{path}: #{at}.columns.#{column_rule.column}: no column #{column_rule.column} in " \
                     "#{table.label} (it has: #{table.columns.keys.join(', ')})"
      end
      changing = rule.columns.reject { |c| c.strategy == "keep" }
      if %w[m f].include?(table.kind) && (!changing.empty? || rule.where)
        reason = if table.kind == "m"
                   "refreshed from its tables after the changes (rule those tables; " \
                     "a materialized view takes keep: REASON only)"
                 else
                   "whose rows another server holds, so sanitize cannot change them " \
                     "(a foreign table takes keep: REASON only)"
                 end
        raise Error, "#{path}: #{at}: #{table.label} is a #{table.what}, #{reason}"
      end
      rule.columns.each do |column_rule|
        ident3 = [table.schema, table.name, column_rule.column]
        covered[ident3] = true
        reasoned[ident3] = true if column_rule.strategy == "keep" && column_rule.reason
      end
      next if changing.empty?

      # The primary key names each row, unless a rule changes it.
      changed = changing.map(&:column)
      key_columns = (changed & table.primary_key).empty? ? table.primary_key : []
      assignments = []
      rewrites = []
      checks = []
      labels = []
      blockers = changing.map { |c| table.columns[c.column] }.select(&:rewrite_blocker)
                         .map { |c| "#{c.rewrite_blocker} uses #{c.name}" }
      rewrite = mode == "offline" && blockers.empty? && !rule.where_has_subquery
      changing.each do |column_rule|
        cat = "#{at}.columns.#{column_rule.column}"
        column = table.columns[column_rule.column]
        changed_columns[[table.schema, table.name, column.name]] = true
        expression, check, shape, hashed = compiler.value(column_rule, column, table, key_columns, cat)
        col = quote_ident(column.name)
        assignments << "#{col} = #{expression}"
        kept = rule.where ? "CASE WHEN (#{rule.where}) THEN #{expression} ELSE #{col} END" : expression
        collate = column.collation ? " COLLATE #{column.collation}" : ""
        rewrites << "ALTER COLUMN #{col} TYPE #{column.sql_type}#{collate} USING #{kept}"
        if column_rule.strategy == "constant"
          casts << Check.new("SELECT CAST(#{quote_literal(column_rule.value || '')} AS #{column.sql_type})", cat,
                             "constant #{quote_text(column_rule.value || '')} does not fit " \
                             "#{table.label}.#{column.name} (#{column.sql_type})", nil)
        end
        if check
          checks << check
          labels << column.name
        end
        unique_checks.concat(unique_checks_for(table, column, expression, shape, hashed, rule, rewrite, cat)) if column.unique
      end
      note = nil
      if mode == "offline" && !rewrite
        why = blockers.empty? ? "its where: holds a subquery" : blockers.first
        note = "#{table.label}: UPDATE in place, since #{why}"
      end
      where = rule.where ? " WHERE (#{rule.where})" : ""
      scope = rule.where ? "(#{rule.where}) AND " : ""
      counts = checks.map { |check| ", count(*) FILTER (WHERE #{scope}#{check})" }.join
      matching = rule.where ? ", count(*) FILTER (WHERE #{rule.where})" : ""
      change = if rewrite
                 "ALTER TABLE #{table.qualified} #{rewrites.join(', ')}"
               else
                 "UPDATE #{table.only} SET #{assignments.join(', ')}#{where}"
               end
      steps << Step.new(table.label, at, rewrite ? "rewrite" : "update",
                        "SELECT count(*)#{matching} FROM #{table.only}",
                        change,
                        "SELECT count(*)#{counts} FROM #{table.only}",
                        labels, note, rewrite ? "ANALYZE #{table.qualified}" : nil, !rule.where.nil?)
    end

    unless emptied.empty?
      # One statement, so tables that reference each other empty together.
      counts = emptied.map { |t| "(SELECT count(*) FROM #{t.only})" }.join(", ")
      steps << Step.new(emptied.map(&:label).join(", "), "truncate", "truncate",
                        "SELECT #{counts}",
                        "TRUNCATE TABLE #{emptied.map(&:only).join(', ')}",
                        "SELECT #{counts}",
                        emptied.map(&:label), nil, nil, false)
    end

    ordered = tables.sort_by { |ident, _| ident }
    foreign = ordered.map(&:last).select do |t|
      t.kind == "f" && t.columns.keys.any? { |c| !reasoned.key?([t.schema, t.name, c]) }
    end
    unless foreign.empty?
      raise Error, "#{path}: #{foreign.map(&:label).join(', ')}: a foreign table's rows are held " \
                   "by another server, which sanitize cannot change or check (drop it from this " \
                   "database, or give each of its columns keep: REASON)"
    end

    uncovered = ordered.flat_map do |ident, table|
      next [] unless %w[r p].include?(table.kind) && !truncated.key?(ident)

      table.columns.values.select do |column|
        !column.generated && looks_personal?(column.name, column.base_type) &&
          !covered.key?([table.schema, table.name, column.name])
      end.map { |column| "#{table.label}.#{column.name}" }
    end
    if !uncovered.empty? && !allow_uncovered
      raise Error, "#{path}: these columns look personal and no rule covers them: " \
                   "#{uncovered.join(', ')} (give each a strategy, or keep once reviewed; " \
                   "ALLOW_UNCOVERED=1 runs anyway)"
    end

    before_parts = []
    after_parts = []
    ordered.each do |(schema, name), table|
      next if truncated.key?([schema, name]) || table.kind == "f"
      next if table.kind == "m" && !table.populated

      candidates = table.columns.values.select do |c|
        SCAN_TYPES.include?(c.base_type) && !changed_columns.key?([schema, name, c.name]) &&
          !reasoned.key?([schema, name, c.name])
      end
      before = table.kind == "m" ? [] : candidates.reject(&:generated)
      before_parts << [table, before] unless before.empty?
      after_parts << [table, candidates] unless candidates.empty?
    end

    refreshes = tables.sort_by { |ident, t| [t.refresh_level, ident] }
                      .select { |_, t| t.kind == "m" && t.populated }
                      .map { |_, t| [t.label, "REFRESH MATERIALIZED VIEW #{t.qualified}"] }
    prescan = before_parts.empty? ? nil : Scan.new(before_parts, scan_sql(before_parts, SAMPLE_ROWS))
    postscan = after_parts.empty? ? nil : Scan.new(after_parts, scan_sql(after_parts, nil))
    settings = steps.any? { |s| s.kind == "rewrite" } ? [REWRITE_MEMORY] : []
    Plan.new(mode, casts, steps, unique_checks, refreshes, prescan, postscan, uncovered, settings)
  end

  # Reads that find a unique value the change would give twice, before any write.
  #
  # A row that already holds the value another row will get makes an UPDATE fail half-way
  # (the index is checked row by row) and, if the rule leaves that row alone, makes the
  # result break the index; a rewrite checks the index once, at the end, so only rows the
  # rule leaves alone matter there. Values hashed to fit a length limit may also meet.
  def unique_checks_for(table, column, expression, shape, hashed, rule, rewrite, at)
    col = quote_ident(column.name)
    label = "#{table.label}.#{column.name}"
    found = []
    rewritten = rule.where ? " AND (#{rule.where})" : ""
    if !rewrite || rule.where
      untouched = rewrite ? " AND NOT coalesce((#{rule.where}), false)" : ""
      shaped = shape ? " AND #{shape.gsub('{v}') { "taken.#{col}::text" }}" : ""
      taken = "FROM #{table.only} AS taken WHERE taken.#{col} IS NOT NULL#{shaped}#{untouched}"
      # Only when some row holds a value of the rule's shape (rarely, on a fresh copy) is the
      # costly comparison with every row's new value made.
      found << Check.new(
        "SELECT CASE WHEN EXISTS (SELECT 1 #{taken}) THEN (SELECT min(taken.#{col}::text) " \
        "#{taken} AND EXISTS (SELECT 1 FROM #{table.only} AS given WHERE given.#{col} IS NOT " \
        "NULL#{rewritten} AND (#{expression})::text = taken.#{col}::text AND " \
        "(given.tableoid, given.ctid) <> (taken.tableoid, taken.ctid))) END",
        at, label,
        "#{label} is unique and a row already holds {example}, the value this rule gives " \
        "another row (change or clear that row first)"
      )
    end
    if hashed
      found << Check.new(
        "SELECT min(v) FROM (SELECT (#{expression})::text AS v FROM #{table.only} " \
        "WHERE #{col} IS NOT NULL#{rewritten} GROUP BY 1 HAVING count(*) > 1) d",
        at, label,
        "#{label} is unique and two rows would get {example}, a value cut to fit the column " \
        "(widen the column, or use hash)"
      )
    end
    found
  end

  # --- running ---------------------------------------------------------------------------

  def primary(error)
    primary = nil
    if error.respond_to?(:result) && error.result
      primary = error.result.error_field(PG::Result::PG_DIAG_MESSAGE_PRIMARY)
    end
    primary = error.message.to_s.strip.lines.first.to_s.strip if primary.nil? || primary.empty?
    primary = error.class.name if primary.empty?
    primary.sub(/\.+\z/, "")
  end

  # Statements through the extended protocol, which runs one statement per call.
  class Database
    def initialize(connection)
      @connection = connection
    end

    def rows(sql)
      @connection.exec_params(sql, []).values
    rescue PG::Error => e
      raise DatabaseRefused, HerokuSanitize.primary(e)
    end

    def row(sql)
      rows(sql).first
    end

    def execute(sql)
      @connection.exec_params(sql, []).cmd_tuples
    rescue PG::Error => e
      raise DatabaseRefused, HerokuSanitize.primary(e)
    end
  end

  def read_database(db)
    rows = db.rows(catalog_sql)
    search_path = parse_array(db.row("SELECT current_schemas(false)::text[]")[0])
    [rows, search_path]
  rescue DatabaseRefused => e
    raise Error, "the database refused the catalog query: #{e.primary}"
  end

  # A one-dimensional text-format PostgreSQL array: its elements, an unquoted NULL as nil.
  def parse_array(text)
    return text if text.is_a?(Array)

    inner = text.to_s[1...-1].to_s
    return [] if inner.empty?

    inner.scan(/"((?:[^"\\]|\\.)*)"|([^,]+)/).map do |quoted, bare|
      if quoted
        quoted.gsub(/\\(.)/, '\1')
      else
        bare == "NULL" ? nil : bare
      end
    end
  end

  # Sanitize through a PG::Connection (ActiveRecord's raw_connection), all or nothing.
  def run(connection, rules, allow_uncovered: false, dry_run: false, mode: "online", out: $stdout, env: ENV)
    allowed = guard(env)
    check_mode(mode)
    started = clock
    db = Database.new(connection)
    connection.exec("BEGIN")
    committed = false
    begin
      begin
        db.execute("SET LOCAL standard_conforming_strings = on")
      rescue DatabaseRefused => e
        raise Error, "the database refused a setting: #{e.primary}"
      end
      rows, search_path = read_database(db)
      plan = compile_plan(rules, read_catalog(rows), search_path, mode, allow_uncovered)
      out.puts "sanitize: not covered, allowed: #{plan.uncovered.join(', ')}" unless plan.uncovered.empty?
      out.write(plan.sql) if dry_run
      before = run_checks(db, plan, rules.path)
      if dry_run
        connection.exec("ROLLBACK")
        committed = true
        return plan
      end
      out.puts "sanitize: #{allowed}; #{plan.steps.size} tables, one transaction, #{mode} mode"
      plan.settings.each do |sql|
        db.rows(sql)
      rescue DatabaseRefused => e
        raise Error, "the database refused a setting: #{e.primary}"
      end
      plan.steps.each do |step|
        began = clock
        begin
          db.execute(step.change_sql)
          after = db.row(step.verify_sql).map(&:to_i)
        rescue DatabaseRefused => e
          raise Error, "#{rules.path}: #{step.at}: #{step.label}: the database refused the change: #{e.primary}"
        end
        elapsed = format("%.2f", clock - began)
        counts = before.fetch(step.object_id)
        if step.kind == "truncate"
          verify_truncate(step, after)
          step.checks.zip(counts).each { |label, count| out.puts "sanitize: #{label}: truncated #{count} rows in #{elapsed}s" }
        else
          verify_update(step, counts[0], after)
          changed = step.where ? counts[1] : counts[0]
          out.puts "sanitize: #{step.label}: updated #{changed} of #{counts[0]} rows in #{elapsed}s"
        end
      end
      plan.refreshes.each do |label, sql|
        began = clock
        begin
          db.execute(sql)
        rescue DatabaseRefused => e
          raise Error, "#{label}: the database refused to refresh the materialized view: #{e.primary}"
        end
        out.puts "sanitize: #{label}: refreshed in #{format('%.2f', clock - began)}s"
      end
      findings = scan(db, plan.postscan)
      unless findings.empty?
        raise Error, "verification failed: these columns still hold values that look personal: " \
                     "#{findings} (give each a rule, or keep: REASON)"
      end
      plan.steps.each do |step|
        next unless step.analyze_sql

        begin
          db.execute(step.analyze_sql)
        rescue DatabaseRefused => e
          raise Error, "#{step.label}: the database refused ANALYZE: #{e.primary}"
        end
      end
      begin
        connection.exec("COMMIT")
        committed = true
      rescue PG::Error => e
        if connection.finished? || connection.status != PG::CONNECTION_OK
          raise Error.new("the connection was lost during the commit (#{primary(e)}), so whether the " \
                          "changes were kept is unknown: run sanitize again", unsure: true)
        end
        raise Error, "the database refused the commit: #{primary(e)}"
      end
    rescue Exception # rubocop:disable Lint/RescueException -- roll back on interrupts too
      unless committed
        begin
          connection.exec("ROLLBACK") if connection.transaction_status != PG::PQTRANS_IDLE
        rescue StandardError
          nil # a broken connection cannot roll back; the server does it when it notices
        end
      end
      raise
    end
    out.puts "sanitize: committed and verified in #{format('%.2f', clock - started)}s"
    plan
  end

  # Every read before the first write; returns each step's counts.
  def run_checks(db, plan, path)
    plan.casts.each do |cast|
      db.rows(cast.sql)
    rescue DatabaseRefused => e
      raise Error, "#{path}: #{cast.at}: #{cast.subject}: #{e.primary}"
    end
    counts = {}
    plan.steps.each do |step|
      counts[step.object_id] = db.row(step.count_sql).map(&:to_i)
    rescue DatabaseRefused => e
      what = step.where ? "the where: condition" : "counting the rows"
      at = step.where ? "#{step.at}.where" : step.at
      raise Error, "#{path}: #{at}: #{step.label}: the database refused #{what}: #{e.primary}"
    end
    plan.unique_checks.each do |check|
      begin
        example = db.row(check.sql)[0]
      rescue DatabaseRefused => e
        raise Error, "#{path}: #{check.at}: #{check.subject}: the database refused the uniqueness check: #{e.primary}"
      end
      raise Error, "#{path}: #{check.at}: #{check.finding.to_s.gsub('{example}', mask(example))}" unless example.nil?
    end
    findings = scan(db, plan.prescan)
    unless findings.empty?
      raise Error, "#{path}: these columns hold values that look personal and no rule changes them: " \
                   "#{findings} (give each a strategy, or keep: REASON to keep it on purpose)"
    end
    counts
  end

  # What the content check found, as a list for a message; empty when nothing.
  def scan(db, scan)
    return "" if scan.nil?

    begin
      rows = db.rows(scan.sql)
    rescue DatabaseRefused => e
      raise Error, "the database refused the content check: #{e.primary}"
    end
    examples_of = rows.to_h { |number, examples| [number.to_i, parse_array(examples)] }
    found = []
    scan.parts.each.with_index(1) do |(table, columns), number|
      examples = examples_of.fetch(number)
      columns.each_with_index do |column, index|
        kinds = (0...4).map { |k| [FINDINGS[k], examples[(index * 4) + k]] }.reject { |_, example| example.nil? }
        next if kinds.empty?

        what = kinds.map { |name, example| "#{name}, e.g. #{mask(example)}" }.join(", ")
        found << "#{table.label}.#{column.name} (#{what})"
      end
    end
    found.join("; ")
  end

  def verify_truncate(step, after)
    left = step.checks.zip(after).select { |_, count| count.positive? }.map { |label, count| "#{label} (#{count} rows)" }
    raise Error, "verification failed: rows left after TRUNCATE in #{left.join(', ')}" unless left.empty?
  end

  def verify_update(step, before, verified)
    after, *failures = verified
    raise Error, "verification failed: #{step.label} had #{before} rows and now has #{after}" if after != before

    bad = step.checks.zip(failures).select { |_, count| count.positive? }.map { |column, count| "#{column} (#{count} rows)" }
    return if bad.empty?

    raise Error, "verification failed: #{step.label}: values not replaced as the rules say in #{bad.join(', ')}"
  end

  def check_mode(mode)
    return mode if MODES.include?(mode)

    raise Error, "the mode is #{quote_text(mode)}, expected online (the default: the app may be " \
                 "using this database) or offline (nobody is)"
  end

  # The plan from catalog rows saved as JSON ({"search_path": [...], "rows": [...]}), without
  # a database: what --catalog prints.
  def compile_only(rules, catalog_path, mode: "online", allow_uncovered: false, out: $stdout, env: ENV)
    guard(env)
    check_mode(mode)
    begin
      saved = JSON.parse(File.read(catalog_path, encoding: "UTF-8"))
      rows = saved.fetch("rows")
      search_path = saved.fetch("search_path")
      raise TypeError unless rows.is_a?(Array) && search_path.is_a?(Array)
    rescue SystemCallError, JSON::ParserError, KeyError, TypeError, NoMethodError
      raise Error, "#{catalog_path}: not a saved catalog (a JSON object with search_path and rows)"
    end
    plan = compile_plan(rules, read_catalog(rows), search_path, mode, allow_uncovered)
    out.puts "sanitize: not covered, allowed: #{plan.uncovered.join(', ')}" unless plan.uncovered.empty?
    out.write(plan.sql)
    plan
  end

  # A URL, or the name of the config var that holds one (HEROKU_POSTGRESQL_PINK_URL), so that
  # a command line never shows the credentials.
  def database_url(value, env)
    if value && value.match?(/\A[A-Z_][A-Z0-9_]*\z/)
      named = env[value]
      raise Error, "SANITIZE_DATABASE_URL names #{value}, which is not set" if named.nil? || named.empty?

      return named
    end
    value
  end

  def connect(url)
    require "pg"
    PG.connect(url)
  rescue PG::Error => e
    raise Error, "cannot connect to the database: #{primary(e)}"
  end

  def clock
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Command line: ruby lib/heroku_sanitize.rb --help. `bin/rails db:sanitize` calls it with
  # no arguments, its rules path, and ActiveRecord's connection for when no other database
  # is named. Returns the exit status; every failure is one sentence on stderr.
  def main(argv, env: ENV, rules: "config/sanitize.yml", connection: nil)
    require "optparse"
    options = { rules: env.fetch("SANITIZE_RULES", rules), database_url: nil,
                mode: env["SANITIZE_MODE"].to_s.empty? ? "online" : env["SANITIZE_MODE"],
                allow_uncovered: env["ALLOW_UNCOVERED"] == "1", dry_run: env["DRY_RUN"] == "1",
                catalog: nil }
    parser = OptionParser.new do |o|
      o.banner = "Usage: ruby lib/heroku_sanitize.rb [options]\n" \
                 "Scrub personal data from this (non-production) database in place, " \
                 "following the rules file, in one transaction."
      o.on("--rules FILE", "rules file (default: config/sanitize.yml, or $SANITIZE_RULES)") { |v| options[:rules] = v }
      o.on("--database-url URL", "PostgreSQL URL, or the name of the config var that holds one " \
                                 "(default: $SANITIZE_DATABASE_URL, else the app's database, $DATABASE_URL)") do |v|
        options[:database_url] = v
      end
      o.on("--mode MODE", "online (default): UPDATE in place, the app may be using the database; " \
                          "offline: nobody is, so tables are rewritten whole, faster (or $SANITIZE_MODE)") do |v|
        options[:mode] = v
      end
      o.on("--allow-uncovered", "run even when personal-looking columns have no rule") { options[:allow_uncovered] = true }
      o.on("--dry-run", "check the rules and the data, print the SQL; change nothing") { options[:dry_run] = true }
      o.on("--catalog FILE.json", "no database: plan from saved catalog rows and print the SQL") { |v| options[:catalog] = v }
    end
    begin
      parser.parse!(argv)
    rescue OptionParser::ParseError => e
      warn "sanitize: #{e.message}; nothing was changed."
      return 2
    end
    previous = {}
    %w[TERM HUP].each do |name|
      previous[name] = trap(name) { raise Stopped.new("SIG#{name}", 128 + Signal.list.fetch(name)) }
    end
    begin
      guard(env)
      mode = check_mode(options[:mode])
      rules = load_rules(options[:rules], env)
      if options[:catalog]
        compile_only(rules, options[:catalog], mode: mode, allow_uncovered: options[:allow_uncovered], env: env)
        return 0
      end
      named = [options[:database_url], env["SANITIZE_DATABASE_URL"]].find { |v| !falsy?(v) }
      url = database_url(named, env)
      run_options = { allow_uncovered: options[:allow_uncovered], dry_run: options[:dry_run], mode: mode, env: env }
      if connection && !url
        run(connection.call, rules, **run_options)
        return 0
      end
      url = env["DATABASE_URL"] if falsy?(url)
      raise Error, "no database: pass --database-url or set SANITIZE_DATABASE_URL or DATABASE_URL" if falsy?(url)

      own = connect(url)
      begin
        run(own, rules, **run_options)
      ensure
        own.close
      end
      0
    rescue Error => e
      warn sentence(e)
      1
    rescue Interrupt
      warn "sanitize: interrupted; nothing was changed."
      130
    rescue Stopped => e
      warn "sanitize: stopped by #{e.name}; nothing was changed."
      e.status
    rescue StandardError, ScriptError => e
      warn "sanitize: stopped by an unexpected error (#{e.class}: #{e.message}); nothing was changed."
      1
    ensure
      previous.each { |name, handler| trap(name, handler || "DEFAULT") }
    end
  end
end

if $PROGRAM_NAME == __FILE__
  $stdout.sync = true
  exit HerokuSanitize.main(ARGV)
end
