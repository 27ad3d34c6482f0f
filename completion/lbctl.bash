# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# bash completion for lbctl(8).
#
# Everything is asked of the lbctl being completed, so the completion
# cannot drift from it: commands, their positional arguments and options
# come from `lbctl help` (the grammar lines main.c prints from the same
# tables the parser uses), an option's choices from its metavar
# ("native|skb") or, for --policy and --engine, from its help line in
# `lbctl OBJECT help`; VIPs and backend addresses from `lbctl -j show`
# (needs the rights to read the pinned maps; without them nothing is
# offered). JSON is read with sed: a host may have neither jq nor python3.
#
# Installed as /usr/share/bash-completion/completions/lbctl.

# The grammar of every command, one line each: "vip add ADDR:PORT/tcp|udp
# [--mode ipip|l2dsr] ...". $1: the lbctl to ask.
_lbctl_grammar()
{
	# a command's line, its continuation lines (indented past 8
	# columns), then its description (8 columns)
	"$1" help 2>/dev/null | awk '
		/^  lbctl / { if (g != "") print g; g = substr($0, 9); next }
		/^         / && g != "" { sub(/^ +/, ""); g = g " " $0; next }
		{ if (g != "") print g; g = "" }
		END { if (g != "") print g }'
}

# The grammar line of the longest command the words $2... spell, after
# its length in words ("2 vip add ADDR:PORT/tcp|udp ..."), or nothing.
# $1: the grammar.
_lbctl_match()
{
	local g=$1
	shift
	awk -v words="$*" '
		BEGIN { nw = split(words, w, " ") }
		{
			n = 0
			for (i = 1; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++) n++
			if (n == 0 || n > nw) next
			for (i = 1; i <= n; i++) if ($i != w[i]) next
			if (n > best) { best = n; line = $0 }
		}
		END { if (best) print best " " line }' <<<"$g"
}

# The first words of every command ($2 empty), or the verbs of object $2.
_lbctl_words()
{
	awk -v obj="${2-}" '
		obj == "" { print $1; next }
		$1 == obj && $2 ~ /^[a-z][a-z-]*$/ { print $2 }' <<<"$1" | awk '!seen[$0]++'
}

# Choices of a value: a metavar "a|b|c", else the option's help line
# ("maglev (default), source, ... or expected-wait"). $1 lbctl, $2 object
# word, $3 option, $4 metavar.
_lbctl_choices()
{
	local line
	if [[ $4 == *'|'* && $4 != *[A-Z]* ]]; then
		# shellcheck disable=SC2086 # split "a|b" into its words
		printf '%s\n' ${4//|/ }
		return
	fi
	line=$("$1" "$2" help 2>/dev/null | awk -v key="$3 $4 " '
		{ sub(/^ +/, "") }
		index($0, key) == 1 { s = substr($0, length(key)); sub(/^ +/, "", s); print s; exit }')
	line=$(printf '%s\n' "$line" | sed -e 's/([^)]*)//g' -e 's/ or /, /g' -e 's/ *, */\n/g' -e 's/ *$//')
	# a list of names, or nothing (a prose help line)
	printf '%s\n' "$line" | grep -Eqv '^[a-z][a-z0-9-]*$' && return
	printf '%s\n' "$line"
}

# VIPs, or the backend addresses of VIP $3 (all VIPs' if empty), from
# `lbctl -j show`: {"vips":[{"vip":"A:P/tcp",...,"backends":[{"address":
# "B",...},...]},...]}. $1 lbctl, $2 "vips" or "backends".
_lbctl_show()
{
	local pin=()
	[[ -n $_lbctl_pin_dir ]] && pin=(--pin-dir "$_lbctl_pin_dir")
	# bounded: show waits for the pin directory's lock (up to 30 s)
	# while another lbctl or the agent changes the datapath
	timeout 2 "$1" "${pin[@]}" -j show 2>/dev/null |
		grep -o '"\(vip\|address\)":"[^"]*"' |
		awk -F'"' -v want="$2" -v vip="${3-}" '
			$2 == "vip" { cur = $4; if (want == "vips") print cur; next }
			want == "backends" && (vip == "" || vip == cur) { print $4 }'
}

# COMPREPLY: compgen's words, one per line (a file name may have spaces).
_lbctl_reply()
{
	mapfile -t COMPREPLY < <(compgen "$@")
}

_lbctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=
	local lbctl=${COMP_WORDS[0]} i w
	local -a args=()
	_lbctl_pin_dir=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	[[ $lbctl == */* || -n $(type -P "$lbctl") ]] || lbctl=lbctl
	COMPREPLY=()

	# the words before the cursor, without the global options
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-j | --json | -p | --pretty | -V | --version) ;;
		--pin-dir)
			((i++))
			_lbctl_pin_dir=${COMP_WORDS[i]-}
			;;
		*) args+=("$w") ;;
		esac
	done
	if [[ $prev == --pin-dir ]]; then
		_lbctl_reply -d -- "$cur"
		return
	fi

	local grammar
	grammar=$(_lbctl_grammar "$lbctl")
	[[ -n $grammar ]] || return

	# the longest command the words so far spell
	local match best bestn=0
	match=$(_lbctl_match "$grammar" "${args[@]}")
	if [[ -n $match ]]; then
		bestn=${match%% *}
		best=${match#* }
	fi

	if ((bestn == 0)); then
		# the first word, or a verb of the object given
		local words=
		if ((${#args[@]} == 0)); then
			words="help $(_lbctl_words "$grammar")"
			[[ $cur == -* ]] && words="-j --json -p --pretty --pin-dir --version"
		elif ((${#args[@]} == 1)); then
			words=$(_lbctl_words "$grammar" "${args[0]}")
			[[ -n $words ]] && words="help $words"
		fi
		_lbctl_reply -W "$words" -- "$cur"
		return
	fi

	# the command is known: its options, their values, its positionals
	local object=${best%% *} opts='' optvals=() pos=() tok prevtok='' k=0
	for tok in ${best//[\[\]]/ }; do
		((k++ < bestn)) && continue
		if [[ $tok == -* ]]; then
			opts+=" $tok"
		elif [[ $prevtok == -* ]]; then
			optvals+=("$prevtok=$tok")
		else
			pos+=("$tok")
		fi
		[[ $tok == -* ]] && prevtok=$tok || prevtok=
	done
	# "apply -f FILE": the short form's long name from the help lines
	if [[ $opts == *" -"[a-zA-Z]* ]]; then
		opts+=" $("$lbctl" "$object" help 2>/dev/null |
			sed -n 's/^ *-[a-zA-Z], \(--[a-z-]*\).*/\1/p' | tr '\n' ' ')"
	fi

	# a value of the option before the cursor
	for w in "${optvals[@]}"; do
		if [[ $prev == "${w%%=*}" ]]; then
			case ${w#*=} in
			FILE | PATH) _lbctl_reply -f -- "$cur" ;;
			*) _lbctl_reply -W "$(_lbctl_choices "$lbctl" "$object" "$prev" "${w#*=}")" -- "$cur" ;;
			esac
			return
		fi
	done
	if [[ $prev == --file && $opts == *" --file"* ]]; then
		_lbctl_reply -f -- "$cur"
		return
	fi
	if [[ $cur == -* ]]; then
		_lbctl_reply -W "$opts help" -- "$cur"
		return
	fi

	# which positional the cursor is at: words after the command that
	# are neither options nor their values
	local npos=0 vip=
	for ((i = bestn; i < ${#args[@]}; i++)); do
		w=${args[i]}
		if [[ $w == -* ]]; then
			for tok in "${optvals[@]}"; do
				[[ $w == "${tok%%=*}" ]] && ((i++))
			done
			continue
		fi
		[[ ${pos[npos]-} == VIP || ${pos[npos]-} == ADDR:PORT/* ]] && vip=$w
		((npos++))
	done
	case ${pos[npos]-} in
	VIP | ADDR:PORT/*) _lbctl_reply -W "$(_lbctl_show "$lbctl" vips)" -- "$cur" ;;
	ADDR) _lbctl_reply -W "$(_lbctl_show "$lbctl" backends "$vip")" -- "$cur" ;;
	DEV) _lbctl_reply -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur" ;;
	*'|'*) _lbctl_reply -W "${pos[npos]//|/ }" -- "$cur" ;;
	'')
		# every positional given: its options (help right after it)
		[[ $bestn -eq ${#args[@]} ]] && opts+=" help"
		_lbctl_reply -W "$opts" -- "$cur"
		;;
	esac
}
complete -F _lbctl lbctl
