# bash completion for cashectl(1)                          -*- shell-script -*-
#
# Commands, their options and arguments; instance names from the sockets
# under /run/cashe and /tmp; member names and keys from the node the command
# line names (asked with a 2 s timeout, so a dead node only means no
# suggestions).

# The connection options already typed, to ask the same node.
_cashectl_conn()
{
    local i w
    _cashectl_conn_args=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            -i | --instance | -s | --socket | -e | --endpoint | --password)
                _cashectl_conn_args+=("$w" "${COMP_WORDS[i + 1]}")
                ((i++))
                ;;
            --instance=* | --socket=* | --endpoint=* | --password=*)
                _cashectl_conn_args+=("$w")
                ;;
        esac
    done
}

_cashectl_instances()
{
    local f names=()
    for f in /run/cashe/*.sock /tmp/cashe-*.sock; do
        [[ -S $f ]] || continue
        f=${f##*/}
        f=${f#cashe-}
        names+=("${f%.sock}")
    done
    COMPREPLY=($(compgen -W "${names[*]}" -- "$1"))
}

_cashectl_members()
{
    _cashectl_conn
    local names
    names=$(cashectl "${_cashectl_conn_args[@]}" -t 2 member list \
        2>/dev/null | awk 'NR > 1 { print $1 }')
    COMPREPLY=($(compgen -W "$names" -- "$1"))
}

# Keys one directory level at a time, as 'cashectl ls' lists them.
_cashectl_keys()
{
    local cur=$1 dir="" names name
    [[ $cur == */* ]] && dir=${cur%/*}/
    _cashectl_conn
    names=$(cashectl "${_cashectl_conn_args[@]}" -t 2 ls -- "$dir" \
        2>/dev/null) || return
    COMPREPLY=()
    while IFS= read -r name; do
        [[ $dir$name == "$cur"* ]] && COMPREPLY+=("$dir$name")
    done <<<"$names"
    # A directory goes on: no space after it.
    [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]] &&
        compopt -o nospace 2>/dev/null
}

_cashectl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands="get put del ls ttl watch status member leader snapshot"
    local global="-i --instance -s --socket -e --endpoint --password
        -t --timeout -j --json -h --help -V --version"
    local i cmd="" sub="" nargs=0

    case $prev in
        -i | --instance)
            _cashectl_instances "$cur"
            return
            ;;
        -s | --socket | -f | --file)
            COMPREPLY=($(compgen -f -- "$cur"))
            return
            ;;
        -e | --endpoint | --password | -t | --timeout | --ttl | -n | --count)
            return
            ;;
    esac

    # The command, its subcommand, and how many arguments follow them.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -i | --instance | -s | --socket | -e | --endpoint | --password | \
                -t | --timeout | -f | --file | --ttl | -n | --count)
                ((i++))
                ;;
            -*) ;;
            *)
                if [[ -z $cmd ]]; then
                    cmd=${COMP_WORDS[i]}
                elif [[ -z $sub && $cmd =~ ^(member|leader|snapshot)$ ]]; then
                    sub=${COMP_WORDS[i]}
                else
                    ((nargs++))
                fi
                ;;
        esac
    done

    if [[ $cur == -* ]]; then
        local opts=$global
        case $cmd in
            put) opts+=" -f --file --ttl" ;;
            ls) opts+=" -r --recursive" ;;
            ttl) opts+=" --clear" ;;
            watch) opts+=" -n --count" ;;
            snapshot) opts+=" --force" ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi

    case $cmd in
        "")
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            ;;
        get | ttl | put | ls | watch)
            ((nargs == 0)) && _cashectl_keys "$cur"
            ;;
        del)
            _cashectl_keys "$cur"
            ;;
        member)
            case $sub in
                "") COMPREPLY=($(compgen -W "list add remove promote demote" \
                    -- "$cur")) ;;
                remove | promote | demote)
                    ((nargs == 0)) && _cashectl_members "$cur"
                    ;;
            esac
            ;;
        leader)
            if [[ -z $sub ]]; then
                COMPREPLY=($(compgen -W "transfer" -- "$cur"))
            elif ((nargs == 0)); then
                _cashectl_members "$cur"
            fi
            ;;
        snapshot)
            if [[ -z $sub ]]; then
                COMPREPLY=($(compgen -W "save restore" -- "$cur"))
            elif ((nargs == 0)); then
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            ;;
    esac
} &&
    complete -F _cashectl cashectl

# ex: filetype=sh
