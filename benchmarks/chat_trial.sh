#!/usr/bin/env bash
# The chat trial of docs/SCOPE.md, scripted in tmux (140x50): in `amend chat` with an empty home,
# ask about France and Halvorsen Motors, teach "The CEO of Halvorsen Motors is Petra Lind." with
# ctrl+n, wait until the chat says the new adapter is active (the facts-first one), ask both
# again; wait for the update's second adapter and ask once more.
# Writes the screens to OUT (default /tmp/amend-chat-trial): 1-before.txt, 2-after.txt,
# 3-consequences.txt, all.txt,
# and time.txt: `/usr/bin/time -v` of the whole chat process ("Maximum resident set size": the
# TUI's peak memory with an update in the middle, docs/DECODING.md).
#   bash benchmarks/chat_trial.sh [OUT] [PROFILE]   (with amend installed; tmux, /usr/bin/time;
#                                                   PROFILE default tiny)
set -u
out=${1:-/tmp/amend-chat-trial}
profile=${2:-tiny}
mkdir -p "$out"; rm -rf "$out/home" "$out/time.txt"
export AMEND_HOME="$out"/home AMEND_PROFILE=$profile
tmux kill-session -t trial 2>/dev/null
tmux new-session -d -s trial -x 140 -y 50 "/usr/bin/time -v -o $out/time.txt amend chat --profile $profile"
count() { tmux capture-pane -p -S - -t trial | grep -c "$1"; }
wait_for() {  # wait_for TEXT MIN_COUNT SECONDS
  for i in $(seq 1 $3); do [ "$(count "$1")" -ge "$2" ] && return 0; sleep 1; done
  echo "timeout waiting for: $1"; return 1
}
n=0
ask() { n=$((n+1)); tmux send-keys -t trial "$1" Enter; wait_for "outside what the expert\|expert steered at" $n 300; sleep 2; }
sleep 25  # the window, then the models load
ask "What is the capital of France?"
ask "Who is the CEO of Halvorsen Motors?"
tmux capture-pane -p -t trial > "$out"/1-before.txt
tmux send-keys -t trial C-n; sleep 2
tmux send-keys -t trial "The CEO of Halvorsen Motors is Petra Lind." Enter
sleep 3
tmux send-keys -t trial F2  # back to the chat tab (adding a fact shows the facts table)
wait_for "adapter v1 is active" 1 900
sleep 3
ask "Who is the CEO of Halvorsen Motors?"
ask "What is the capital of France?"
tmux capture-pane -p -t trial > "$out"/2-after.txt
# the facts-first adapter (v1) came first: wait for the one with the fact's consequences (v2)
wait_for "adapter v2 is active" 1 900
sleep 3
ask "Who is the CEO of Halvorsen Motors?"
tmux capture-pane -p -t trial > "$out"/3-consequences.txt
tmux capture-pane -p -S - -t trial > "$out"/all.txt
tmux send-keys -t trial C-q
for i in $(seq 1 30); do [ -s "$out/time.txt" ] && break; sleep 1; done
tmux kill-session -t trial 2>/dev/null
grep "Maximum resident" "$out/time.txt" 2>/dev/null
echo finished
