package sqlinfo

import "strings"

// funcClass says what the analyzer knows about a function.
type funcClass uint8

const (
	funcUnknown    funcClass = iota // not a known built-in: may do anything
	funcReadOnly                    // known built-in that reads only (safe on a hot standby)
	funcSideEffect                  // known built-in that writes, locks, signals or needs the primary
)

// readOnlyFuncs are built-in (and very common extension) functions that
// neither write nor lock nor have effects visible outside the statement, so
// they run on a hot standby and leave it unchanged. Volatile functions such
// as random() and clock_timestamp() belong here: volatility matters for
// caching, not for routing.
var readOnlyFuncs = wordSet(`
	count sum avg min max array_agg string_agg json_agg jsonb_agg json_object_agg jsonb_object_agg
	json_agg_strict jsonb_agg_strict json_object_agg_strict jsonb_object_agg_strict
	json_object_agg_unique jsonb_object_agg_unique json_object_agg_unique_strict jsonb_object_agg_unique_strict
	bool_and bool_or every bit_and bit_or bit_xor stddev stddev_pop stddev_samp variance var_pop var_samp
	percentile_cont percentile_disc mode corr covar_pop covar_samp regr_avgx regr_avgy regr_count
	regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy any_value range_agg range_intersect_agg xmlagg
	row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value grouping

	lower upper length char_length character_length octet_length bit_length concat concat_ws substring substr
	trim btrim ltrim rtrim lpad rpad replace split_part strpos position left right repeat reverse initcap
	md5 sha224 sha256 sha384 sha512 encode decode format quote_ident quote_literal quote_nullable
	regexp_replace regexp_match regexp_matches regexp_split_to_array regexp_split_to_table regexp_count
	regexp_instr regexp_like regexp_substr starts_with string_to_array string_to_table array_to_string
	to_hex ascii chr translate overlay unistr normalize is_normalized to_ascii parse_ident similar_to_escape
	like_escape textlen text varchar bpchar convert convert_from convert_to get_bit get_byte set_bit set_byte
	bit_count crc32 crc32c hashtext hashtextextended hashint4 hashint8 hashfloat8 hash_array
	uuid_extract_timestamp uuid_extract_version

	abs ceil ceiling floor round trunc mod power pow sqrt cbrt exp ln log log10 sign pi degrees radians
	sin cos tan cot asin acos atan atan2 sind cosd tand cotd asind acosd atand atan2d sinh cosh tanh asinh
	acosh atanh random random_normal div gcd lcm width_bucket scale min_scale trim_scale factorial erf erfc
	int2 int4 int8 float4 float8 numeric bool

	now clock_timestamp statement_timestamp transaction_timestamp timeofday date_trunc date_part extract
	date_bin age make_date make_time make_timestamp make_timestamptz make_interval to_char to_date
	to_timestamp to_number isfinite justify_days justify_hours justify_interval timezone overlaps date
	time timestamp timestamptz interval date_add date_subtract
	current_date current_time current_timestamp localtime localtimestamp current_role current_user user
	session_user system_user current_catalog current_schema

	to_json to_jsonb json_build_object jsonb_build_object json_build_array jsonb_build_array json_object
	jsonb_object array_to_json row_to_json json_array_length jsonb_array_length json_each jsonb_each
	json_each_text jsonb_each_text json_extract_path jsonb_extract_path json_extract_path_text
	jsonb_extract_path_text json_object_keys jsonb_object_keys json_populate_record jsonb_populate_record
	json_populate_recordset jsonb_populate_recordset json_array_elements jsonb_array_elements
	json_array_elements_text jsonb_array_elements_text json_typeof jsonb_typeof json_to_record
	jsonb_to_record json_to_recordset jsonb_to_recordset json_strip_nulls jsonb_strip_nulls jsonb_set
	jsonb_set_lax jsonb_insert jsonb_pretty jsonb_path_exists jsonb_path_match jsonb_path_query
	jsonb_path_query_array jsonb_path_query_first jsonb_path_exists_tz jsonb_path_match_tz
	jsonb_path_query_tz jsonb_path_query_array_tz jsonb_path_query_first_tz jsonb_concat jsonb_contains
	jsonb_exists jsonb_exists_any jsonb_exists_all jsonb_delete jsonb_delete_path json jsonb

	array_length array_lower array_upper array_ndims array_dims array_position array_positions array_remove
	array_replace array_append array_prepend array_cat array_fill cardinality unnest generate_series
	generate_subscripts trim_array array_sample array_shuffle array_to_tsvector

	coalesce nullif greatest least num_nonnulls num_nulls

	gen_random_uuid uuid_generate_v1 uuid_generate_v1mc uuid_generate_v3 uuid_generate_v4 uuid_generate_v5
	uuid_nil

	pg_is_in_recovery pg_last_wal_replay_lsn pg_last_wal_receive_lsn pg_last_xact_replay_timestamp
	pg_is_wal_replay_paused pg_get_wal_replay_pause_state pg_wal_lsn_diff current_setting version
	pg_backend_pid pg_postmaster_start_time pg_conf_load_time current_database current_schemas
	inet_client_addr inet_client_port inet_server_addr inet_server_port pg_my_temp_schema
	pg_is_other_temp_schema pg_blocking_pids pg_safe_snapshot_blocking_pids pg_trigger_depth
	pg_jit_available pg_has_role row_security_active pg_typeof pg_column_size pg_column_compression
	pg_database_size pg_relation_size pg_table_size pg_indexes_size pg_total_relation_size pg_size_pretty
	pg_size_bytes pg_relation_filenode pg_relation_filepath pg_tablespace_size pg_tablespace_location
	pg_get_viewdef pg_get_indexdef pg_get_constraintdef pg_get_expr pg_get_functiondef
	pg_get_function_arguments pg_get_function_result pg_get_function_identity_arguments pg_get_triggerdef
	pg_get_ruledef pg_get_serial_sequence pg_get_userbyid pg_get_keywords pg_get_statisticsobjdef
	pg_get_partkeydef pg_partition_tree pg_partition_root pg_partition_ancestors pg_options_to_table
	pg_table_is_visible pg_type_is_visible pg_function_is_visible pg_collation_for format_type
	obj_description col_description shobj_description to_regclass to_regtype to_regtypemod to_regproc
	to_regprocedure to_regoper to_regoperator to_regnamespace to_regrole to_regcollation
	pg_describe_object pg_identify_object pg_identify_object_as_address pg_sleep pg_sleep_for
	pg_sleep_until pg_current_snapshot pg_snapshot_xmin pg_snapshot_xmax pg_snapshot_xip
	pg_visible_in_snapshot txid_current_snapshot txid_snapshot_xmin txid_snapshot_xmax txid_visible_in_snapshot
	pg_encoding_to_char pg_char_to_encoding pg_client_encoding pg_listening_channels
	pg_notification_queue_usage pg_stat_get_activity pg_stat_get_backend_pid pg_control_checkpoint
	pg_control_system pg_control_init pg_control_recovery pg_get_wal_resource_managers pg_input_is_valid
	pg_input_error_info pg_settings_get_flags pg_current_logfile pg_index_column_has_property
	pg_index_has_property pg_indexam_has_property pg_get_object_address pg_get_catalog_foreign_keys
	pg_xact_commit_timestamp pg_last_committed_xact pg_xact_status

	to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank ts_rank_cd
	ts_headline setweight strip numnode querytree ts_rewrite tsvector_to_array ts_delete ts_filter
	ts_lexize ts_parse ts_token_type ts_debug get_current_ts_config tsquery_phrase

	host hostmask masklen netmask network broadcast inet_same_family inet_merge family abbrev set_masklen
	macaddr8_set7bit

	isempty lower_inc upper_inc lower_inf upper_inf range_merge int4range int8range numrange tsrange
	tstzrange daterange int4multirange int8multirange nummultirange tsmultirange tstzmultirange
	datemultirange multirange

	xmlcomment xmlconcat xmlelement xmlforest xmlpi xmlroot xmlexists xml_is_well_formed
	xml_is_well_formed_document xml_is_well_formed_content xpath xpath_exists xmltext

	similarity word_similarity strict_word_similarity show_trgm levenshtein levenshtein_less_equal
	soundex metaphone dmetaphone dmetaphone_alt difference daitch_mokotoff unaccent
	crypt gen_salt digest hmac gen_random_bytes
	hstore akeys avals skeys svals hstore_to_json hstore_to_jsonb exist defined
	earth_distance ll_to_earth point box circle lseg path polygon area center diameter height width
	npoints radius
`)

// sideEffectFuncs are built-ins that write, lock, signal, change session or
// server state, or fail on a hot standby. A statement calling one is never
// read-only.
var sideEffectFuncs = wordSet(`
	nextval setval currval lastval setseed
	txid_current txid_current_if_assigned pg_current_xact_id pg_current_xact_id_if_assigned
	pg_current_wal_lsn pg_current_wal_insert_lsn pg_current_wal_flush_lsn pg_switch_wal
	pg_create_restore_point pg_promote pg_export_snapshot pg_import_system_collations
	set_config pg_notify pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile
	pg_log_backend_memory_contexts pg_drop_replication_slot pg_copy_physical_replication_slot
	pg_copy_logical_replication_slot pg_replication_slot_advance pg_logical_emit_message
	pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file pg_file_write pg_file_rename pg_file_unlink
	pg_stat_clear_snapshot pg_stat_force_next_flush pg_prewarm pg_nextoid
	pg_wal_replay_pause pg_wal_replay_resume pg_backup_start pg_backup_stop pg_start_backup pg_stop_backup
	dblink
`)

// sideEffectPrefixes name families of side-effecting built-ins.
var sideEffectPrefixes = []string{
	"pg_advisory_", "pg_try_advisory_", "lo_", "dblink_", "pg_stat_reset", "pg_create_",
	"pg_replication_origin_", "pg_logical_slot_", "pg_drop_", "pg_file_", "pg_ls_", "pg_truncate_",
}

// readOnlyPrefixes name families of read-only built-ins.
var readOnlyPrefixes = []string{"pg_stat_get_", "has_", "pg_get_"}

func wordSet(words string) map[string]struct{} {
	f := strings.Fields(words)
	m := make(map[string]struct{}, len(f))
	for _, w := range f {
		m[w] = struct{}{}
	}
	return m
}

// classifyFunc classifies a lower-case function name, optionally qualified
// with "pg_catalog.". Names in any other schema are unknown.
func classifyFunc(name string) funcClass {
	name = strings.TrimPrefix(name, "pg_catalog.")
	if strings.IndexByte(name, '.') >= 0 {
		return funcUnknown
	}
	if _, ok := sideEffectFuncs[name]; ok {
		return funcSideEffect
	}
	if name == "lo_get" {
		return funcReadOnly
	}
	for _, p := range sideEffectPrefixes {
		if strings.HasPrefix(name, p) {
			return funcSideEffect
		}
	}
	if _, ok := readOnlyFuncs[name]; ok {
		return funcReadOnly
	}
	for _, p := range readOnlyPrefixes {
		if strings.HasPrefix(name, p) {
			if p == "has_" && !strings.HasSuffix(name, "_privilege") {
				continue
			}
			return funcReadOnly
		}
	}
	return funcUnknown
}

// IsKnownReadOnlyFunction reports whether name is a built-in function that
// the analyzer knows to be read-only (it neither writes nor locks nor needs
// the primary). The name is matched case-insensitively and may be qualified
// with "pg_catalog."; names in other schemas are never known. Safe for
// concurrent use.
func IsKnownReadOnlyFunction(name string) bool {
	return classifyFunc(lowerASCII(name)) == funcReadOnly
}

// lowerASCII lower-cases ASCII letters, allocating only when s has an
// upper-case letter.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
